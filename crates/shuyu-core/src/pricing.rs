//! Prices (WX §22–§23, YXO §27, SPEC §7.3): free use for public governance and welfare,
//! government-guided prices for industry. The authority sets a cap per product (上限收费标准);
//! the operator's plans stay under it, in one of the national charging units, with progressive
//! tiers (累进阶梯) and a trial price before a full year of operation. Money is integer fen.

use serde::{Deserialize, Serialize};

use crate::products::ScenarioCategory;

named_enum!(
    /// SPEC §7.3: what a price is charged per.
    ChargingUnit, "charging unit" {
        ProductQuantity => "product_quantity",
        ServiceCount => "service_count",
        ServiceTime => "service_time",
        CallVolume => "call_volume",
    }
);

/// One step of a progressive price: units up to `up_to` (inclusive, counted from the first unit
/// of the month) cost `unit_fen` each; the last tier has no bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub up_to: Option<u64>,
    pub unit_fen: u64,
}

/// A consumer's plan, as its contract records it. Fields another plan would need are ignored
/// (a form may send the tiers of a plan not chosen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum PricePlan {
    /// Public governance and welfare: no charge (有条件无偿使用).
    Free,
    /// Charged per unit used in the month, by tiers.
    PerUse { unit: ChargingUnit, tiers: Vec<Tier> },
    /// A fixed amount per month.
    Subscription { monthly_fen: u64 },
}

/// The authority's cap for one product (上限收费标准).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceCap {
    pub unit: ChargingUnit,
    /// The most one unit may cost, in fen.
    pub unit_fen: u64,
    /// The most a month's subscription may cost, in fen.
    pub monthly_fen: u64,
}

/// Why a plan is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceProblem {
    pub en: String,
    pub zh: String,
    pub basis: &'static str,
}

fn problem(en: String, zh: String, basis: &'static str) -> PriceProblem {
    PriceProblem { en, zh, basis }
}

impl PricePlan {
    /// Checks a plan for a scenario against the product's cap.
    pub fn check(&self, category: ScenarioCategory, cap: Option<&PriceCap>) -> Result<(), PriceProblem> {
        if category.is_free() {
            return match self {
                PricePlan::Free => Ok(()),
                _ => Err(problem(
                    "public governance and public welfare use is free".into(),
                    "用于公共治理、公益事业的，实行有条件无偿使用".into(),
                    "WX §23",
                )),
            };
        }
        let Some(cap) = cap else {
            return match self {
                PricePlan::Free => Ok(()),
                _ => Err(problem(
                    "the authority has not set this product's price cap yet".into(),
                    "数据主管部门尚未核定该产品的上限收费标准".into(),
                    "YXO §27",
                )),
            };
        };
        match self {
            PricePlan::Free => Ok(()),
            PricePlan::PerUse { unit, tiers } => {
                if *unit != cap.unit {
                    return Err(problem(
                        format!("the cap is set per {}", cap.unit.as_str()),
                        format!("上限收费标准的计费单位为 {}", cap.unit.as_str()),
                        "YXO §27",
                    ));
                }
                if tiers.is_empty() || tiers.last().is_some_and(|t| t.up_to.is_some()) {
                    return Err(problem(
                        "tiers must end with one without a bound".into(),
                        "阶梯价格的最后一档不设上限".into(),
                        "YXO §27",
                    ));
                }
                let bounds: Vec<u64> = tiers.iter().filter_map(|t| t.up_to).collect();
                if bounds.windows(2).any(|w| w[0] >= w[1]) || bounds.first() == Some(&0) {
                    return Err(problem("tier bounds must rise".into(), "阶梯上限须递增".into(), "YXO §27"));
                }
                if let Some(t) = tiers.iter().find(|t| t.unit_fen > cap.unit_fen) {
                    return Err(problem(
                        format!("{} fen per unit is above the cap of {} fen", t.unit_fen, cap.unit_fen),
                        format!("单价{}分高于上限收费标准{}分", t.unit_fen, cap.unit_fen),
                        "YXO §27",
                    ));
                }
                Ok(())
            }
            PricePlan::Subscription { monthly_fen } => {
                if *monthly_fen > cap.monthly_fen {
                    return Err(problem(
                        format!("{monthly_fen} fen a month is above the cap of {} fen", cap.monthly_fen),
                        format!("月费{monthly_fen}分高于上限收费标准{}分", cap.monthly_fen),
                        "YXO §27",
                    ));
                }
                Ok(())
            }
        }
    }

    /// What `units` used in one month cost.
    pub fn charge(&self, units: u64) -> u64 {
        match self {
            PricePlan::Free => 0,
            PricePlan::Subscription { monthly_fen } => *monthly_fen,
            PricePlan::PerUse { tiers, .. } => {
                let mut total: u64 = 0;
                let mut from = 0u64;
                for t in tiers {
                    let to = t.up_to.unwrap_or(u64::MAX).min(units);
                    if to > from {
                        total = total.saturating_add((to - from).saturating_mul(t.unit_fen));
                        from = to;
                    }
                    if from >= units {
                        break;
                    }
                }
                total
            }
        }
    }
}

/// The operator's maximum allowed revenue (最高准许收入) for a period, and what it earned: the
/// excess is deducted from the next period's charges (SPEC §7.3).
pub fn excess(allowed_fen: u64, earned_fen: u64) -> u64 {
    earned_fen.saturating_sub(allowed_fen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiered() -> PricePlan {
        PricePlan::PerUse {
            unit: ChargingUnit::CallVolume,
            tiers: vec![
                Tier { up_to: Some(1000), unit_fen: 10 },
                Tier { up_to: Some(10_000), unit_fen: 8 },
                Tier { up_to: None, unit_fen: 5 },
            ],
        }
    }

    const CAP: PriceCap = PriceCap { unit: ChargingUnit::CallVolume, unit_fen: 10, monthly_fen: 100_000 };

    #[test]
    fn progressive_tiers_charge_each_unit_at_its_step() {
        let p = tiered();
        assert_eq!(p.charge(0), 0);
        assert_eq!(p.charge(500), 5_000);
        assert_eq!(p.charge(1000), 10_000);
        assert_eq!(p.charge(1001), 10_008);
        assert_eq!(p.charge(20_000), 10_000 + 9_000 * 8 + 10_000 * 5);
        assert_eq!(PricePlan::Subscription { monthly_fen: 50 }.charge(7), 50);
    }

    #[test]
    fn prices_stay_under_the_cap_and_public_use_is_free() {
        assert!(tiered().check(ScenarioCategory::Industry, Some(&CAP)).is_ok());
        let dear =
            PricePlan::PerUse { unit: ChargingUnit::CallVolume, tiers: vec![Tier { up_to: None, unit_fen: 11 }] };
        assert_eq!(dear.check(ScenarioCategory::Industry, Some(&CAP)).unwrap_err().basis, "YXO §27");
        assert!(tiered().check(ScenarioCategory::Industry, None).is_err(), "no cap, no charge");
        assert_eq!(tiered().check(ScenarioCategory::PublicWelfare, Some(&CAP)).unwrap_err().basis, "WX §23");
        assert!(PricePlan::Free.check(ScenarioCategory::PublicGovernance, None).is_ok());
        assert!(PricePlan::Subscription { monthly_fen: 100_001 }
            .check(ScenarioCategory::Industry, Some(&CAP))
            .is_err());
        let unsorted = PricePlan::PerUse {
            unit: ChargingUnit::CallVolume,
            tiers: vec![
                Tier { up_to: Some(10), unit_fen: 1 },
                Tier { up_to: Some(5), unit_fen: 1 },
                Tier { up_to: None, unit_fen: 1 },
            ],
        };
        assert!(unsorted.check(ScenarioCategory::Industry, Some(&CAP)).is_err());
    }

    #[test]
    fn revenue_above_the_allowed_maximum_is_carried_over() {
        assert_eq!(excess(1_000, 1_200), 200);
        assert_eq!(excess(1_000, 800), 0);
    }
}

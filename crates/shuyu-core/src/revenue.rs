//! Revenue sharing (CS §21, WX §23): every payment is split between the data's owner (the
//! government, booked as non-tax revenue), the operator and the processor by the agreement's
//! ratios, as one balanced double-entry transaction in integer fen.

use serde::{Deserialize, Serialize};

use crate::operators::RevenueSplit;

/// One line of a ledger transaction: positive is a debit, negative a credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: String,
    pub amount_fen: i64,
}

/// The accounts a payment touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parties {
    /// The consumer who pays.
    pub consumer: String,
    /// The government body whose data it is: its share is non-tax revenue (WX §23).
    pub owner: String,
    pub operator: String,
    /// Without a processor, the processor's share stays with the operator (it did the processing).
    pub processor: Option<String>,
}

pub fn cash_account(consumer: &str) -> String {
    format!("cash:{consumer}")
}

pub fn non_tax_revenue_account(owner: &str) -> String {
    format!("non_tax_revenue:{owner}")
}

pub fn operator_account(org: &str) -> String {
    format!("revenue:operator:{org}")
}

pub fn processor_account(org: &str) -> String {
    format!("revenue:processor:{org}")
}

/// Splits `amount` by percentages that add up to 100, so that the parts add up to the amount
/// exactly: each part is rounded down and the fen left over go to the largest remainders (ties in
/// the order owner, operator, processor: the government's share is never the one shorted).
pub fn split(amount_fen: u64, ratios: &RevenueSplit) -> [u64; 3] {
    let pct = [u64::from(ratios.owner), u64::from(ratios.operator), u64::from(ratios.processor)];
    let total: u64 = pct.iter().sum::<u64>().max(1);
    let wide = u128::from(amount_fen);
    let mut parts = [0u64; 3];
    let mut rema = [0u128; 3];
    for i in 0..3 {
        let exact = wide * u128::from(pct[i]);
        parts[i] = u64::try_from(exact / u128::from(total)).unwrap_or(u64::MAX);
        rema[i] = exact % u128::from(total);
    }
    let mut left = amount_fen - parts.iter().sum::<u64>();
    let mut order = [0usize, 1, 2];
    order.sort_by(|a, b| rema[*b].cmp(&rema[*a]).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        if pct[i] > 0 {
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
}

/// The postings of one payment: the consumer's cash in, each party's share credited.
pub fn payment(amount_fen: u64, ratios: &RevenueSplit, parties: &Parties) -> Vec<Posting> {
    let [owner, operator, processor] = split(amount_fen, ratios);
    let signed = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
    let mut out = vec![
        Posting { account: cash_account(&parties.consumer), amount_fen: signed(amount_fen) },
        Posting { account: non_tax_revenue_account(&parties.owner), amount_fen: -signed(owner) },
    ];
    match &parties.processor {
        Some(p) => {
            out.push(Posting { account: operator_account(&parties.operator), amount_fen: -signed(operator) });
            out.push(Posting { account: processor_account(p), amount_fen: -signed(processor) });
        }
        None => out
            .push(Posting { account: operator_account(&parties.operator), amount_fen: -signed(operator + processor) }),
    }
    out.retain(|p| p.amount_fen != 0);
    out
}

/// A transaction balances when its postings sum to zero.
pub fn balances(postings: &[Posting]) -> bool {
    postings.iter().map(|p| i128::from(p.amount_fen)).sum::<i128>() == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn parties(processor: bool) -> Parties {
        Parties {
            consumer: "c".into(),
            owner: "gov".into(),
            operator: "op".into(),
            processor: processor.then(|| "proc".into()),
        }
    }

    #[test]
    fn ten_thousand_random_payments_balance_and_follow_the_ratios() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut ledger: Vec<Posting> = Vec::new();
        for _ in 0..10_000 {
            let owner = rng.gen_range(0..=100u8);
            let operator = rng.gen_range(0..=100 - owner);
            let r = RevenueSplit { owner, operator, processor: 100 - owner - operator };
            let amount = rng.gen_range(0..10_000_000_000u64);
            let parts = split(amount, &r);
            assert_eq!(parts.iter().sum::<u64>(), amount);
            for (part, pct) in parts.iter().zip([r.owner, r.operator, r.processor]) {
                let exact = amount as f64 * f64::from(pct) / 100.0;
                assert!((*part as f64 - exact).abs() < 1.0, "{part} vs {exact}");
                if pct == 0 {
                    assert_eq!(*part, 0);
                }
            }
            let postings = payment(amount, &r, &parties(rng.gen_bool(0.5)));
            assert!(balances(&postings));
            ledger.extend(postings);
            assert!(balances(&ledger), "the whole ledger balances after every payment");
        }
    }

    #[test]
    fn without_a_processor_its_share_stays_with_the_operator() {
        let r = RevenueSplit { owner: 30, operator: 50, processor: 20 };
        let p = payment(1001, &r, &parties(false));
        assert_eq!(p[1], Posting { account: "non_tax_revenue:gov".into(), amount_fen: -300 });
        assert_eq!(p[2].amount_fen, -701, "the spare fen goes to the largest remainder (500.5)");
        assert!(balances(&p));
    }
}

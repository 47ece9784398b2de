//! Which of several server processes on one database runs the background work (deadline
//! transitions, periodic tree heads, the monitor). On PostgreSQL the leader holds a
//! session-level advisory lock on a connection of its own: when the process dies the server
//! ends the session and the lock is free for the next process that asks. On SQLite only one
//! process writes the file, so it always leads.

use sqlx::{AnyConnection, Connection};

use crate::{Backend, Result, Store};

/// The advisory lock's key: "SHUYU" and "LEAD" in ASCII, so it is recognisable in `pg_locks`.
const LOCK_KEY: i64 = 0x5348_5559_4C45_4144;

/// Proof of leadership, kept for as long as the process leads.
pub enum Lease {
    /// SQLite: the only process.
    Sole,
    /// PostgreSQL: the connection whose session holds the advisory lock.
    Postgres(Box<AnyConnection>),
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lease::Sole => "Lease::Sole",
            Lease::Postgres(_) => "Lease::Postgres",
        })
    }
}

impl Store {
    /// Takes the lead if no other process holds it; `None` when another does.
    pub async fn try_lead(&self) -> Result<Option<Lease>> {
        let Some(url) = self.url.as_deref().filter(|_| self.backend == Backend::Postgres) else {
            return Ok(Some(Lease::Sole));
        };
        // A connection outside the pool: the lock lives exactly as long as this session.
        let mut conn = AnyConnection::connect(url).await?;
        let row = sqlx::query("SELECT CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END AS ok")
            .bind(LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if crate::int(&row, "ok")? == 1 {
            Ok(Some(Lease::Postgres(Box::new(conn))))
        } else {
            let _ = conn.close().await;
            Ok(None)
        }
    }
}

impl Lease {
    /// Whether this process still leads: its session must still be alive. A lost connection
    /// means the lock may already be someone else's.
    pub async fn holds(&mut self) -> bool {
        match self {
            Lease::Sole => true,
            // A session lock is released only with the session, so a live session still
            // holds it.
            Lease::Postgres(conn) => sqlx::query("SELECT 1").execute(&mut **conn).await.is_ok(),
        }
    }
}

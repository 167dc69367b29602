//! The shared counters on PostgreSQL: the first piece of the multi-instance runtime store.
//!
//! Each statement is a single atomic `INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING`, so
//! instances sharing one database never read-modify-write a counter in the process: the
//! database serialises the increments on the row and hands every caller the total after its
//! own. Two styles: `take_quota` counts one call at the moment it is made (exact limits, at
//! one round trip per call), the `add_*` functions add what an instance counted in memory
//! since its last flush (the write-behind the hot path needs) and hand back the shared total.
//! The usage service's flush on PostgreSQL calls `add_quota_used` and `add_counter`
//! (`usage::persist`).
use std::time::Duration;

use r2d2_postgres::PostgresConnectionManager;

use super::location::PgUrl;
use super::postgres::{CONNECT_TIMEOUT, PgError};

/// A pool of PostgreSQL connections, the counterpart of the SQLite store's r2d2 pool.
pub type PgPool = r2d2::Pool<PostgresConnectionManager<postgres::NoTls>>;

/// Opens a pool of `size` connections; fails when the database cannot be reached.
pub fn open_pool(url: &PgUrl, size: u32) -> Result<PgPool, PgError> {
    let mut config = url.config();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config.application_name("gcli2api");
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(CONNECT_TIMEOUT + Duration::from_secs(1))
        .build(PostgresConnectionManager::new(config, postgres::NoTls))
        .map_err(|e| PgError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })
}

/// Takes one unit of a credential's daily quota for `class` in the window starting at
/// `window_start` (ms), if fewer than `limit` were taken in that window: returns the count
/// including this one, or `None` when the limit is reached. A newer window starts the count
/// again at 1; a caller still on an older window (a lagging instance) is refused, never
/// allowed to reset the newer count.
pub fn take_quota(
    client: &mut impl postgres::GenericClient,
    credential_id: i64,
    class: &str,
    window_start: i64,
    limit: i64,
) -> Result<Option<i64>, PgError> {
    if limit <= 0 {
        return Ok(None);
    }
    let row = client.query_opt(
        "INSERT INTO quota_windows AS q (credential_id, class, window_start, used)
         VALUES ($1, $2, $3, 1)
         ON CONFLICT (credential_id, class) DO UPDATE
            SET used = CASE WHEN q.window_start = EXCLUDED.window_start THEN q.used + 1 ELSE 1 END,
                window_start = EXCLUDED.window_start
            WHERE EXCLUDED.window_start > q.window_start
               OR (EXCLUDED.window_start = q.window_start AND q.used < $4)
         RETURNING used",
        &[&credential_id, &class, &window_start, &limit],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// Adds `calls` upstream calls to a credential's daily usage row; returns the row's total.
pub fn add_daily_calls(
    client: &mut impl postgres::GenericClient,
    day: &str,
    credential_id: i64,
    model: &str,
    outcome: &str,
    calls: i64,
) -> Result<i64, PgError> {
    let row = client.query_one(
        "INSERT INTO usage_daily AS u (day, credential_id, model, outcome, calls)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (day, credential_id, model, outcome)
            DO UPDATE SET calls = u.calls + EXCLUDED.calls
         RETURNING calls",
        &[&day, &credential_id, &model, &outcome, &calls],
    )?;
    Ok(row.get(0))
}

/// Adds `delta` calls, counted by one instance since its last flush, to a credential's quota
/// use in the window starting at `window_start` (ms): returns the shared total, which includes
/// every other instance's flushed calls, for the instance to adopt as its in-memory count. A
/// newer window starts from `delta`; deltas of an older window (an instance that has not
/// rolled over yet) do not count against the newer one and return `None` (their history rows
/// still record them). A negative `delta` (use moved to another credential) lowers the total,
/// never below 0: the CHECK would refuse the row, and PostgreSQL then the whole transaction.
pub fn add_quota_used(
    client: &mut impl postgres::GenericClient,
    credential_id: i64,
    class: &str,
    window_start: i64,
    delta: i64,
) -> Result<Option<i64>, PgError> {
    let row = client.query_opt(
        "INSERT INTO quota_windows AS q (credential_id, class, window_start, used)
         VALUES ($1, $2, $3, GREATEST($4::BIGINT, 0))
         ON CONFLICT (credential_id, class) DO UPDATE
            SET used = GREATEST(CASE WHEN q.window_start = EXCLUDED.window_start
                                     THEN q.used + $4 ELSE $4 END, 0),
                window_start = EXCLUDED.window_start
            WHERE EXCLUDED.window_start >= q.window_start
         RETURNING used",
        &[&credential_id, &class, &window_start, &delta],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// Adds `delta` calls to a credential's since-reset counter for (`class`, `outcome`);
/// returns the shared total.
pub fn add_counter(
    client: &mut impl postgres::GenericClient,
    credential_id: i64,
    class: &str,
    outcome: &str,
    delta: i64,
) -> Result<i64, PgError> {
    let row = client.query_one(
        "INSERT INTO usage_counters AS u (credential_id, class, outcome, calls)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (credential_id, class, outcome)
            DO UPDATE SET calls = u.calls + EXCLUDED.calls
         RETURNING calls",
        &[&credential_id, &class, &outcome, &delta],
    )?;
    Ok(row.get(0))
}

//! The storage boundary: a connection of either backend, handed to the store's domain
//! functions, which hold the SQL of both side by side and pick by the variant. Callers keep
//! passing what they have (a SQLite connection or transaction, a PostgreSQL transaction):
//! every domain function takes `impl Into<Db>`, so a caller's code is the same for both.
//!
//! `Store::run` and `Store::run_tx` hand one out on either backend. Ported so far: `audit`,
//! the request log (`reqlog::persist`), `responses`, `client_keys`, `settings`, `secrets`,
//! `credentials` and `at_rest::unlock`. The other domains still
//! take a SQLite connection (through
//! `Store::call` / `Store::tx`, which a PostgreSQL store refuses with `StoreError::NotPorted`);
//! serving from PostgreSQL stays refused at start until all of them are ported.
use rusqlite::Connection;

/// One database handle. PostgreSQL work always runs in a transaction (the counterpart of the
/// SQLite store's `call`, a single statement, is a one-statement transaction there).
pub enum Db<'c, 't: 'c> {
    Sqlite(&'c Connection),
    Postgres(&'c mut postgres::Transaction<'t>),
}

impl<'c> From<&'c Connection> for Db<'c, 'static> {
    fn from(c: &'c Connection) -> Self {
        Db::Sqlite(c)
    }
}

impl<'c> From<&'c rusqlite::Transaction<'_>> for Db<'c, 'static> {
    fn from(tx: &'c rusqlite::Transaction<'_>) -> Self {
        Db::Sqlite(tx)
    }
}

impl<'c, 't> From<&'c mut postgres::Transaction<'t>> for Db<'c, 't> {
    fn from(tx: &'c mut postgres::Transaction<'t>) -> Self {
        Db::Postgres(tx)
    }
}

impl<'c, 't> Db<'c, 't> {
    /// A shorter-lived handle to the same connection, so a domain function can run several
    /// statements (or call other domain functions) through one `Db`.
    pub fn reborrow(&mut self) -> Db<'_, 't> {
        match self {
            Db::Sqlite(c) => Db::Sqlite(c),
            Db::Postgres(tx) => Db::Postgres(tx),
        }
    }
}

//! The pool on a PostgreSQL store shared by several instances: state writes merged with what
//! the others wrote (see `pool::shared`) and announced with `NOTIFY` in the same transaction;
//! a listener whose changes are applied to this instance's in-memory view off the request
//! path; and token refreshes under the credential's cross-instance lock. On SQLite none of
//! this runs: the service writes its states as they are.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::{CredId, CredentialState, Inner, PoolService, TokenError, ms, repo};
use crate::pool::secrets::{Secret, secret_of};
use crate::pool::shared::{Shared, merge};
use crate::store::db::Db;
use crate::store::pg_coord::{self, Envelope, Listener, PoolChange, Resync};
use crate::store::{StoreError, now_ms};

/// How long a refresh waits for another instance's refresh of the same credential (an
/// upstream token call; the HTTP client gives up well before).
const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(30);

/// What the service keeps to share a PostgreSQL store with other instances.
pub(super) struct SharedSync {
    /// This instance's name on the notification channel (its own changes are skipped).
    pub(super) origin: String,
    /// The shared part of each credential as last agreed with the database: the base of
    /// every three-way merge.
    synced: Mutex<HashMap<CredId, Shared>>,
    /// Access tokens Google rejected here (a 401), per credential: the stored token may be
    /// the same one, fresh by its expiry but dead, and then it is refreshed, not reused.
    rejected: Mutex<HashMap<CredId, String>>,
    /// Whether the listener holds a database connection (true until it first loses one).
    pub(super) connected: Arc<AtomicBool>,
    /// Refreshed tokens with a rotated refresh token that could not be written (the
    /// database was unreachable): kept until a later turn under the lock writes them.
    unsaved: Mutex<HashMap<CredId, repo::TokenWrite>>,
}

impl SharedSync {
    pub(super) fn new<'a>(states: impl Iterator<Item = (CredId, &'a CredentialState)>) -> Self {
        Self {
            origin: uuid::Uuid::new_v4().simple().to_string(),
            synced: Mutex::new(states.map(|(id, s)| (id, Shared::of(s))).collect()),
            rejected: Mutex::default(),
            connected: Arc::new(AtomicBool::new(true)),
            unsaved: Mutex::default(),
        }
    }
}

fn parse_state(json: Option<String>) -> Option<CredentialState> {
    json.and_then(|j| serde_json::from_str(&j).ok())
}

/// Writes one state document and its mirrored columns.
pub(super) fn write_state(
    db: Db<'_, '_>,
    id: CredId,
    s: &CredentialState,
    now: i64,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(s).map_err(|e| StoreError::Data(e.to_string()))?;
    let row = repo::PoolStateRow {
        state_json: &json,
        enabled: s.enabled,
        ban_reason: s.ban.as_ref().map(|b| b.reason.as_str()),
        ban_link: s.ban.as_ref().and_then(|b| b.link.as_deref()),
        preview_ok: s.preview,
        email: s.email.as_deref(),
        project_id: s.project_id.as_deref(),
        tier: s.tier.as_deref(),
        last_success_at: ms(s.last_success),
        last_used_at: ms(s.last_used),
    };
    repo::write_pool_state(db, id, &row, now)?;
    Ok(())
}

/// Announces a change in the caller's transaction (delivered at commit). No-op on SQLite.
pub(crate) fn publish(db: Db<'_, '_>, origin: &str, change: PoolChange) -> Result<(), StoreError> {
    if let Db::Postgres(tx) = db {
        pg_coord::publish(tx, origin, &change)?;
    }
    Ok(())
}

impl PoolService {
    /// Remembers a token Google rejected, so the shared refresh does not take it back from
    /// the database.
    pub(super) fn note_rejected(&self, id: CredId, token: &str) {
        if let Some(sync) = &self.inner.sync {
            sync.rejected.lock().insert(id, token.to_string());
        }
    }

    /// This instance's origin on a shared store (`None` on SQLite).
    pub(crate) fn origin(&self) -> Option<String> {
        self.inner.sync.as_ref().map(|s| s.origin.clone())
    }

    /// Writes states on a shared store: each row is read `FOR UPDATE`, merged three ways with
    /// what this instance last agreed on, written, and announced when its shared part changed.
    /// Afterwards the in-memory view takes in what the others had written.
    pub(super) async fn write_shared(
        &self,
        sync: &SharedSync,
        mut states: Vec<(CredId, CredentialState)>,
    ) -> Result<(), StoreError> {
        // Rows are locked in id order by every instance: two flushes of the same credentials
        // in different orders would deadlock (and wait for PostgreSQL to break it, a second).
        states.sort_by_key(|(id, _)| *id);
        states.dedup_by_key(|(id, _)| *id);
        // No base yet (a credential added here since the start): what we hold is ours.
        let bases: Vec<Option<Shared>> = {
            let synced = sync.synced.lock();
            states
                .iter()
                .map(|(id, _)| synced.get(id).cloned())
                .collect()
        };
        let origin = sync.origin.clone();
        let written = self
            .inner
            .store
            .run_tx(move |mut db| {
                let now = now_ms();
                let mut out = Vec::with_capacity(states.len());
                for ((id, mut state), base) in states.into_iter().zip(bases) {
                    // A row deleted meanwhile (here or elsewhere) is not brought back.
                    let Some(stored) = repo::pool_state(db.reborrow(), id, true)? else {
                        continue;
                    };
                    let ours = Shared::of(&state);
                    let theirs = parse_state(stored).map(|t| Shared::of(&t));
                    let base = base
                        .or_else(|| theirs.clone())
                        .unwrap_or_else(|| ours.clone());
                    let theirs = theirs.unwrap_or_else(|| base.clone());
                    let merged = merge(&base, &ours, &theirs);
                    merged.apply_to(&mut state);
                    write_state(db.reborrow(), id, &state, now)?;
                    if merged != theirs {
                        let change = PoolChange::Reload { credential_id: id };
                        publish(db.reborrow(), &origin, change)?;
                    }
                    out.push((id, ours, merged));
                }
                Ok(out)
            })
            .await?;
        for (id, ours, merged) in written {
            self.adopt(id, &ours, &merged);
            sync.synced.lock().insert(id, merged);
        }
        Ok(())
    }

    /// Takes `theirs` into the in-memory state, keeping what changed here since `base`.
    fn adopt(&self, id: CredId, base: &Shared, theirs: &Shared) {
        let mut core = self.core_mut();
        let Some(mut state) = core.state(id) else {
            return;
        };
        let ours = Shared::of(&state);
        let merged = merge(base, &ours, theirs);
        if merged != ours {
            merged.apply_to(&mut state);
            core.upsert(id, state);
        }
    }

    /// Starts listening for the other instances' changes (PostgreSQL only; `None` on SQLite).
    /// Changes are applied by a task of this service, never on a request; every
    /// `resync_every`, and after each reconnect, the whole view is compared with the database.
    /// Dropping the listener stops it.
    pub fn listen(&self, resync_every: Duration) -> std::io::Result<Option<Listener>> {
        let (Some(sync), Some(url)) = (&self.inner.sync, self.inner.store.postgres_url()) else {
            return Ok(None);
        };
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(apply_loop(Arc::downgrade(&self.inner), rx));
        let sink = ChannelSink(tx, Arc::clone(&sync.connected));
        Listener::spawn(url.clone(), sync.origin.clone(), resync_every, sink).map(Some)
    }

    /// Rotated refresh tokens this instance holds that the shared database has not taken yet
    /// (written by a background retry; 0 on SQLite).
    pub fn unsaved_tokens(&self) -> usize {
        self.inner
            .sync
            .as_ref()
            .map_or(0, |s| s.unsaved.lock().len())
    }

    /// Whether this instance's link to a shared database is up, as its listener last saw it
    /// (always true on SQLite: a local file has no link to lose).
    pub fn store_reachable(&self) -> bool {
        self.inner
            .sync
            .as_ref()
            .is_none_or(|s| s.connected.load(Ordering::Relaxed))
    }

    /// Brings one credential in line with its row (a notification named it).
    pub(crate) async fn reload_one(&self, id: CredId) -> Result<(), StoreError> {
        if self.inner.sync.is_none() {
            return Ok(());
        }
        let found = self
            .inner
            .store
            .run(move |mut db| {
                let row = repo::get(db.reborrow(), id)?;
                let stored = repo::pool_state(db, id, false)?;
                Ok(row.zip(stored))
            })
            .await?;
        self.apply_row(id, found);
        Ok(())
    }

    /// Every credential compared with the database, in one read (after a reconnect, when
    /// notifications may have been missed, and periodically).
    pub(crate) async fn resync(&self) -> Result<(), StoreError> {
        if self.inner.sync.is_none() {
            return Ok(());
        }
        // Known before the read: a credential this instance adds meanwhile is committed
        // before it is held, so it is either in the read or not in this list, never removed.
        let known: Vec<CredId> = self
            .core()
            .profiles()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let (rows, states) = self
            .inner
            .store
            .run(|mut db| Ok((repo::list(db.reborrow())?, repo::pool_states(db)?)))
            .await?;
        let mut states: HashMap<CredId, Option<String>> = states.into_iter().collect();
        let stored: std::collections::HashSet<CredId> = rows.iter().map(|r| r.id).collect();
        for id in known.into_iter().filter(|id| !stored.contains(id)) {
            self.apply_row(id, None);
        }
        for row in rows {
            let state = states.remove(&row.id).flatten();
            self.apply_row(row.id, Some((row, state)));
        }
        Ok(())
    }

    /// One credential as the database has it: gone → removed here; new → loaded; else its
    /// shared state merged in (and its secret taken when the row's differs, e.g. after
    /// another instance's sign-in).
    fn apply_row(&self, id: CredId, found: Option<(repo::CredentialRow, Option<String>)>) {
        let Some(sync) = &self.inner.sync else {
            return;
        };
        let Some((row, stored)) = found else {
            if self.core().contains(id) {
                tracing::info!(credential = id, "credential removed by another instance");
                self.remove(id);
            }
            sync.synced.lock().remove(&id);
            return;
        };
        let theirs_state = parse_state(stored).unwrap_or_else(|| CredentialState {
            enabled: row.enabled,
            ..Default::default()
        });
        let theirs = Shared::of(&theirs_state);
        if !self.core().contains(id) {
            tracing::info!(credential = id, name = %row.name, "credential added by another instance");
            sync.synced.lock().insert(id, theirs);
            let profile = super::profile_of(&row, &self.inner.settings.get());
            self.inner
                .names
                .write()
                .insert(id, Arc::<str>::from(row.name.as_str()));
            self.insert_loaded(id, profile, &row.payload, theirs_state);
            return;
        }
        let base = sync
            .synced
            .lock()
            .insert(id, theirs.clone())
            .unwrap_or_else(|| theirs.clone());
        self.adopt(id, &base, &theirs);
        self.take_secret_if_changed(id, &row);
        // A quota group or discovered models set elsewhere.
        let profile = super::profile_of(&row, &self.inner.settings.get());
        let mut core = self.core_mut();
        if core.profile(id).is_some_and(|p| p != profile) {
            core.set_profile(id, profile);
        }
    }

    /// Takes the row's secret when it is not the one held (a new sign-in or key elsewhere) and
    /// not older than it; a fresher access token for the same refresh token is left to the
    /// refresh path.
    fn take_secret_if_changed(&self, id: CredId, row: &repo::CredentialRow) {
        let Some(new) = secret_of(row.kind, &row.payload) else {
            return;
        };
        let mut all = self.inner.secrets.write();
        let same = match (all.get(&id), &new) {
            // A row read before this instance's own refresh landed (a resync racing it) holds
            // the older pair: of two pairs, the one whose access token expires later is newer.
            (Some(Secret::OAuth(a)), Secret::OAuth(b)) => {
                a.refresh_token == b.refresh_token
                    || matches!((a.expiry, b.expiry), (Some(held), Some(row)) if row <= held)
            }
            (Some(Secret::ApiKey(a)), Secret::ApiKey(b)) => a == b,
            (Some(Secret::ServiceAccount(a)), Secret::ServiceAccount(b)) => {
                a.key.client_email == b.key.client_email
            }
            _ => false,
        };
        if !same {
            new.register();
            if let Some(old) = all.insert(id, new) {
                old.forget();
            }
        }
    }

    /// A refresh on a shared store: under the credential's lock, the stored token is used when
    /// another instance refreshed it meanwhile; otherwise the stored refresh token (the newest,
    /// whoever rotated it) is spent and the result written before the lock is released.
    pub(super) async fn refresh_shared(&self, id: CredId) -> Result<String, TokenError> {
        Ok(self.locked_refresh(id).await?.0)
    }

    /// One turn under the lock; a rotated refresh token that could not be written is kept
    /// (`unsaved`), used and written by the next turn, and retried in the background.
    async fn locked_refresh(
        &self,
        id: CredId,
    ) -> Result<(String, Option<repo::TokenWrite>), TokenError> {
        let me = self.clone();
        let locked = self
            .inner
            .store
            .with_refresh_lock(id, REFRESH_LOCK_WAIT, |row| async move {
                me.refresh_under_lock(id, row).await
            })
            .await;
        let (out, committed) = locked.map_err(|e| TokenError::Transient(e.to_string()))?;
        let (token, write) = out?;
        let Some(sync) = &self.inner.sync else {
            return Ok((token, write));
        };
        match (&committed, &write) {
            (Ok(()), _) => {
                sync.unsaved.lock().remove(&id);
            }
            (Err(e), Some(w)) if w.rotated.is_some() => {
                tracing::error!(credential = id, error = %e,
                    "could not save the rotated refresh token; kept in memory, retrying");
                let first = sync.unsaved.lock().insert(id, w.clone()).is_none();
                if first {
                    self.spawn_token_retry(id);
                }
            }
            (Err(e), _) => {
                tracing::warn!(credential = id, error = %e, "could not save refreshed tokens");
            }
        }
        Ok((token, write))
    }

    /// Writes a kept rotated refresh token (under the lock, with the next turn's logic) until
    /// it is in the database.
    fn spawn_token_retry(&self, id: CredId) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            loop {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
                let Some(inner) = weak.upgrade() else { return };
                let svc = PoolService { inner };
                let pending = svc
                    .inner
                    .sync
                    .as_ref()
                    .is_some_and(|s| s.unsaved.lock().contains_key(&id));
                if !pending || !svc.core().contains(id) {
                    return;
                }
                if let Err(e) = svc.locked_refresh(id).await {
                    tracing::warn!(credential = id, error = %e, "rotated refresh token still not saved");
                }
            }
        });
    }

    /// Runs while the lock is held. Answers the token and what was written, and the tokens
    /// to write.
    async fn refresh_under_lock(
        &self,
        id: CredId,
        row: Option<repo::CredentialRow>,
    ) -> (
        Result<(String, Option<repo::TokenWrite>), TokenError>,
        Option<repo::TokenWrite>,
    ) {
        let stored = row.and_then(|r| match secret_of(r.kind, &r.payload) {
            Some(Secret::OAuth(t)) => Some(t),
            _ => None,
        });
        let Some(mut stored) = stored else {
            return (
                Err(TokenError::Permanent("credential was removed".into())),
                None,
            );
        };
        let Some(sync) = &self.inner.sync else {
            return (
                Err(TokenError::Transient("not a shared store".into())),
                None,
            );
        };
        // A rotated refresh token this instance could not write is newer than the stored one
        // (which Google already retired): it is the one to use, and it is written now.
        let pending = sync.unsaved.lock().get(&id).cloned();
        let pending_rotation = pending.as_ref().and_then(|p| p.rotated.clone());
        if let Some((r, _)) = &pending_rotation {
            stored.refresh_token = r.clone();
        }
        let now = self.inner.clock.now();
        let rejected = sync.rejected.lock().remove(&id);
        if let Some(p) = pending.clone() {
            let exp = p
                .expiry
                .as_deref()
                .and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok());
            if exp.is_some_and(|e| e - super::REFRESH_MARGIN > now)
                && rejected.as_deref() != Some(p.access_token.as_str())
            {
                // Our kept tokens are still good: only write them.
                return (Ok((p.access_token.clone(), Some(p.clone()))), Some(p));
            }
        }
        if let (Some(a), Some(exp)) = (&stored.access_token, stored.expiry)
            && exp - super::REFRESH_MARGIN > now
            && rejected.as_deref() != Some(a.as_str())
            && pending.is_none()
        {
            // Another instance refreshed it while we waited: use theirs.
            crate::logs::register_secret(a);
            self.keep_tokens(id, a, exp, Some(&stored.refresh_token));
            return (Ok((a.clone(), None)), None);
        }
        match self.spend_refresh_token(id, &stored).await {
            Ok((token, mut write, expiry, rotated)) => {
                let refresh = rotated.or_else(|| pending_rotation.as_ref().map(|(r, _)| r.clone()));
                if write.rotated.is_none() {
                    write.rotated = pending_rotation;
                }
                self.keep_tokens(id, &token, expiry, refresh.as_deref());
                tracing::info!(credential = id, "access token refreshed");
                (Ok((token, Some(write.clone()))), Some(write))
            }
            Err(e) => (Err(e), None),
        }
    }
}

/// A listener's deliveries, handed to the service's apply task.
enum Event {
    Change(CredId),
    Resync,
}

/// Hands the listener's events to this service's apply task, and tells whether the listener
/// holds a connection (what `/healthz` reports on a shared database).
struct ChannelSink(mpsc::UnboundedSender<Event>, Arc<AtomicBool>);

impl pg_coord::Sink for ChannelSink {
    fn change(&self, envelope: Envelope) {
        let id = match envelope.change {
            PoolChange::Cooldown { credential_id, .. }
            | PoolChange::Enabled { credential_id, .. }
            | PoolChange::Reload { credential_id } => credential_id,
        };
        let _ = self.0.send(Event::Change(id));
    }

    fn resync(&self, why: Resync) {
        tracing::debug!(?why, "pool resync");
        if why == Resync::Connected {
            self.1.store(true, Ordering::Relaxed);
        }
        let _ = self.0.send(Event::Resync);
    }

    fn disconnected(&self, reason: &str) {
        self.1.store(false, Ordering::Relaxed);
        tracing::warn!(
            reason,
            "pool listener lost its database connection; retrying"
        );
    }
}

async fn apply_loop(inner: Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(first) = rx.recv().await {
        // Take everything queued, so a burst of changes costs one pass.
        let mut ids = Vec::new();
        let mut resync = false;
        for ev in std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok())) {
            match ev {
                Event::Change(id) => ids.push(id),
                Event::Resync => resync = true,
            }
        }
        let Some(inner) = inner.upgrade() else { return };
        let svc = PoolService { inner };
        let done = if resync {
            svc.resync().await
        } else {
            ids.sort_unstable();
            ids.dedup();
            let mut r = Ok(());
            for id in ids {
                r = r.and(svc.reload_one(id).await);
            }
            r
        };
        if let Err(e) = done {
            tracing::warn!(error = %e, "could not apply another instance's pool change");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::pool::state::{Ban, BanKind};
    use crate::store::Store;
    use crate::store::credentials::{CredentialSource, NewCredential, StatePatch};

    /// What the writer stored before it became one statement: the document, then the
    /// general patch of its mirrored columns.
    fn two_statements(db: Db<'_, '_>, id: CredId, s: &CredentialState, now: i64) {
        let Db::Sqlite(conn) = db else { unreachable!() };
        let json = serde_json::to_string(s).unwrap();
        repo::set_pool_state(conn, id, &json).unwrap();
        let patch = StatePatch {
            enabled: Some(s.enabled),
            disabled_reason: None,
            ban_reason: Some(s.ban.as_ref().map(|b| b.reason.clone())),
            ban_link: Some(s.ban.as_ref().and_then(|b| b.link.clone())),
            preview_ok: Some(Some(s.preview)),
            email: s.email.clone().map(Some),
            project_id: s.project_id.clone().map(Some),
            tier: s.tier.clone().map(Some),
            last_success_at: ms(s.last_success),
            last_used_at: ms(s.last_used),
        };
        repo::set_state(conn, id, &patch, now).unwrap();
    }

    type Columns = (
        Option<String>,
        bool,
        Option<String>,
        Option<String>,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        i64,
    );

    fn columns(conn: &rusqlite::Connection, id: CredId) -> Columns {
        conn.query_row(
            "SELECT state_json, enabled, ban_reason, ban_link, preview_ok, email, project_id,
                 tier, last_success_at, last_used_at, updated_at FROM credentials WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            },
        )
        .unwrap()
    }

    #[tokio::test]
    async fn one_statement_stores_what_the_document_and_its_patch_stored() {
        let dir = crate::demo::TempDir::new("coord-write").unwrap();
        let store = Store::open(&dir.0).await.unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let banned = CredentialState {
            enabled: false,
            ban: Some(Ban {
                kind: BanKind::AutoBan,
                status: Some(403),
                reason: "PERMISSION_DENIED".into(),
                link: Some("https://example.test/fix".into()),
                at,
            }),
            preview: false,
            email: Some("a@sim.test".into()),
            tier: Some("free-tier".into()),
            last_used: Some(at),
            ..CredentialState::default()
        };
        let served = CredentialState {
            project_id: Some("proj-1".into()),
            last_success: Some(at),
            last_used: Some(at),
            calls: 3,
            successes: 3,
            ..CredentialState::default()
        };
        // The second state clears the ban and leaves the email and tier the first one set.
        let states = [banned, served, CredentialState::default()];
        let rows = store
            .tx(move |tx| {
                let mut ids = Vec::new();
                for name in ["old.json", "new.json"] {
                    let new = NewCredential::code_assist(
                        name,
                        CredentialSource::Upload,
                        serde_json::json!({"refresh_token": name}),
                    );
                    ids.push(repo::insert(tx, &new, 1)?);
                }
                let mut seen = Vec::new();
                for (n, s) in states.iter().enumerate() {
                    let now = 100 + n as i64;
                    two_statements(Db::Sqlite(tx), ids[0], s, now);
                    write_state(Db::Sqlite(tx), ids[1], s, now)?;
                    seen.push((columns(tx, ids[0]), columns(tx, ids[1])));
                }
                Ok(seen)
            })
            .await
            .unwrap();
        for (n, (old, new)) in rows.iter().enumerate() {
            assert_eq!(old, new, "state {n}");
        }
        assert_eq!(rows[1].1.5.as_deref(), Some("a@sim.test"), "email kept");
        assert_eq!(rows[1].1.2, None, "ban cleared");
        assert_eq!(rows[2].1.8, Some(at.timestamp_millis()), "time kept");
    }
}

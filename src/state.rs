//! Shared application state handed to every handler.
use crate::settings::passwords::Passwords;
use crate::settings::{Settings, SettingsHandle};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub settings: SettingsHandle,
    pub store: Store,
    pub passwords: Passwords,
}

impl AppState {
    pub fn new(settings: Settings, store: Store) -> Self {
        let api = settings
            .api_password
            .clone()
            .or_else(|| settings.password.clone());
        Self {
            settings: SettingsHandle::new(settings),
            store,
            passwords: Passwords::from_plain(api),
        }
    }
}

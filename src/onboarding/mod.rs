//! Getting credentials into the pool: imports (files, ZIPs, the environment, a directory),
//! signing in with Google (the OAuth flow and its pending-sign-in state). The pool itself only
//! serves and rotates what onboarding hands it.
pub mod check;
pub mod import;
pub mod keeper;
pub mod login;
pub mod oauth_flow;
pub mod official;
pub mod recheck;

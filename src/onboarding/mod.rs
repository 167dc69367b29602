//! Getting credentials into the pool: imports (files, ZIPs, the environment, a directory),
//! signing in with Google (the OAuth flow and its pending-sign-in state). The pool itself only
//! serves and rotates what onboarding hands it.
pub mod import;
pub mod login;
pub mod oauth_flow;

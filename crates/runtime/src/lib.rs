//! What every Strata Lambda shares, and the state-machine generator with them: the boot
//! code of a `main` ([`lambda`]) and the error names a handler reports, which the ASL's
//! `Retry` and `Catch` match ([`errors`]). Small on purpose: it links no AWS service.

pub mod errors;
pub mod lambda;

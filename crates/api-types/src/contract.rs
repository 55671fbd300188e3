//! The API contract's version, and how a CLI and a control plane of different releases get
//! on. `MAJOR.MINOR`: a minor adds fields, codes or routes, and an older client keeps working
//! (response bodies may gain fields it ignores, an error code it does not know reads as
//! [`crate::ErrorCode::Unknown`]); a major removes or changes something. Requests stay
//! strict both ways: an unknown field in a request is refused.
//!
//! Every request the CLI sends names its contract ([`CONTRACT_HEADER`]); every answer names
//! the control plane's contract and release ([`VERSION_HEADER`]). The API refuses a client
//! whose major is older than [`OLDEST_CLIENT_MAJOR`]; the CLI warns when the control plane's
//! major is newer than its own.

/// This release's contract.
pub const CONTRACT: &str = "1.0";
/// The oldest client contract major this release still serves.
pub const OLDEST_CLIENT_MAJOR: u32 = 1;
/// The request and answer header that names a contract (`1.0`).
pub const CONTRACT_HEADER: &str = "strata-contract";
/// The answer header that names the control plane's release (`0.1.0`).
pub const VERSION_HEADER: &str = "strata-version";

/// The major of a contract (`1.0` → 1); `None` when it is not one.
pub fn major(contract: &str) -> Option<u32> {
    let (major, minor) = contract.trim().split_once('.')?;
    minor.parse::<u32>().ok()?;
    major.parse().ok()
}

/// Why a client of `contract` is refused, or `None` when it is served.
pub fn refuse_client(contract: &str) -> Option<String> {
    match major(contract) {
        Some(major) if major >= OLDEST_CLIENT_MAJOR => None,
        Some(_) => Some(format!(
            "this control plane serves API contract {CONTRACT} and clients from {OLDEST_CLIENT_MAJOR}.0; the client speaks {contract}: upgrade strata"
        )),
        None => Some(format!(
            "the {CONTRACT_HEADER} header {contract:?} is not a contract version such as {CONTRACT}"
        )),
    }
}

/// The warning a client of this release gives when the control plane's contract is newer
/// by a major, or `None`.
pub fn warn_server(contract: &str) -> Option<String> {
    let ours = major(CONTRACT).expect("CONTRACT is a contract");
    match major(contract) {
        Some(theirs) if theirs > ours => Some(format!(
            "the control plane speaks API contract {contract}, newer than this strata's {CONTRACT}: upgrade strata"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_from_the_oldest_major_are_served_and_newer_servers_warned_of() {
        assert_eq!(major("1.0"), Some(1));
        assert_eq!(major("12.3"), Some(12));
        assert_eq!(major("1"), None);
        assert_eq!(major("v1.0"), None);
        assert_eq!(refuse_client(CONTRACT), None);
        assert_eq!(refuse_client("1.7"), None, "a newer minor is served");
        assert_eq!(refuse_client("2.0"), None, "a newer client is served");
        let old = refuse_client("0.9").unwrap();
        assert!(
            old.contains("upgrade strata") && old.contains("0.9"),
            "{old}"
        );
        assert!(
            refuse_client("latest")
                .unwrap()
                .contains("not a contract version")
        );
        assert_eq!(warn_server(CONTRACT), None);
        assert_eq!(warn_server("1.9"), None);
        assert!(
            warn_server("2.0")
                .unwrap()
                .contains("newer than this strata's")
        );
    }
}

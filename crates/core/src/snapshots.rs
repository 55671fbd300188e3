//! Which database snapshots an environment may be restored from: only final snapshots this
//! control plane recorded for it (DESIGN.md's rule for snapshots), never one found by its
//! name. The database component records each final snapshot it takes in its status: the
//! newest as `finalSnapshotId`, every one as a `recordedSnapshot.<id>` resource id (the
//! runner merges resource ids across operations, so the record only grows).

use crate::status::ComponentStatus;

/// The spec field this module judges, as errors name it.
pub const FIELD: &str = "spec.database.restoreFrom";

/// `spec.database.restoreFrom: latest`.
pub const LATEST: &str = "latest";

const RECORD_PREFIX: &str = "recordedSnapshot.";

/// The resource id under which a final snapshot is recorded; its value is when the
/// operation that took it began (seconds since the epoch).
pub fn record_key(snapshot: &str) -> String {
    format!("{RECORD_PREFIX}{snapshot}")
}

/// The newest final snapshot the database's status names (an output while it is deleted,
/// a resource id after).
pub fn newest(status: &ComponentStatus) -> Option<&str> {
    status
        .outputs
        .get("finalSnapshotId")
        .or(status.resource_ids.get("finalSnapshotId"))
        .map(String::as_str)
}

/// Every final snapshot recorded for the database, the newest included, each once.
pub fn recorded(status: &ComponentStatus) -> Vec<&str> {
    let mut all: Vec<&str> = status
        .resource_ids
        .keys()
        .filter_map(|k| k.strip_prefix(RECORD_PREFIX))
        .chain(newest(status))
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Why `restoreFrom` cannot be honoured for a database whose status is `status` (none
/// before its first operation), or the snapshot it names: `None` for `latest` with none
/// recorded is an error too, since data was asked for.
pub fn chosen<'a>(
    restore_from: &'a str,
    status: Option<&'a ComponentStatus>,
) -> Result<&'a str, String> {
    let recorded = status.map(recorded).unwrap_or_default();
    if restore_from == LATEST {
        return status
            .and_then(newest)
            .ok_or_else(|| "latest: no final snapshot of this environment is recorded".to_owned());
    }
    if recorded.contains(&restore_from) {
        return Ok(restore_from);
    }
    Err(format!(
        "{restore_from} is not a final snapshot this control plane recorded for this environment{}",
        if recorded.is_empty() {
            " (none is recorded)".to_owned()
        } else {
            format!("; recorded: {}", recorded.join(", "))
        }
    ))
}

/// An RDS DB snapshot identifier: 1 to 255 letters, digits and hyphens, a letter first, no
/// two hyphens in a row, none at the end.
pub fn is_snapshot_id(text: &str) -> bool {
    (1..=255).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !text.contains("--")
        && !text.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::ComponentPhase;

    fn deleted_twice() -> ComponentStatus {
        let mut status = ComponentStatus::new(ComponentPhase::Ready, 3, 0);
        for (id, at) in [
            ("strata-s-final-g1-100", "100"),
            ("strata-s-final-g2-200", "200"),
        ] {
            status.resource_ids.insert(record_key(id), at.into());
        }
        status
            .resource_ids
            .insert("finalSnapshotId".into(), "strata-s-final-g2-200".into());
        status
    }

    #[test]
    fn only_recorded_snapshots_are_chosen_and_latest_is_the_newest() {
        let status = deleted_twice();
        assert_eq!(
            recorded(&status),
            ["strata-s-final-g1-100", "strata-s-final-g2-200"]
        );
        assert_eq!(chosen(LATEST, Some(&status)), Ok("strata-s-final-g2-200"));
        assert_eq!(
            chosen("strata-s-final-g1-100", Some(&status)),
            Ok("strata-s-final-g1-100")
        );
        let refused = chosen("someone-elses", Some(&status)).unwrap_err();
        assert!(
            refused.contains("recorded: strata-s-final-g1-100, strata-s-final-g2-200"),
            "{refused}"
        );
        assert!(chosen(LATEST, None).is_err());
        assert!(
            chosen("strata-s-final-g1-100", None)
                .unwrap_err()
                .contains("none is recorded")
        );
    }

    #[test]
    fn a_status_from_before_the_record_still_names_its_newest() {
        let mut status = ComponentStatus::new(ComponentPhase::Deleted, 2, 0);
        status
            .outputs
            .insert("finalSnapshotId".into(), "strata-s-final-g2-200".into());
        assert_eq!(recorded(&status), ["strata-s-final-g2-200"]);
        assert_eq!(chosen(LATEST, Some(&status)), Ok("strata-s-final-g2-200"));
    }

    #[test]
    fn snapshot_ids_follow_rds_rules() {
        assert!(is_snapshot_id("strata-staging-final-g2-1796444669"));
        for bad in ["", "1abc", "a--b", "a-", "a_b", &"a".repeat(256)] {
            assert!(!is_snapshot_id(bad), "{bad}");
        }
    }
}

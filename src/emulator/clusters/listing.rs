//! Which clusters list shows and in what order: retention, the 2.1 filters and sorts.

use serde_json::Value;

use crate::emulator::cluster_lifecycle::{
    PENDING, RESIZING, RESTARTING, RUNNING, TERMINATED, TERMINATING,
};
use crate::emulator::request::{decode_offset_token, page_size, str_field};
use crate::emulator::store::ClusterRecord;
use crate::emulator::{ApiError, ApiResult, QueryPairs};

const STATES: [&str; 8] = [
    PENDING,
    RUNNING,
    RESTARTING,
    RESIZING,
    TERMINATING,
    TERMINATED,
    "ERROR",
    "UNKNOWN",
];

const SOURCES: [&str; 7] = [
    "UI",
    "API",
    "JOB",
    "PIPELINE",
    "PIPELINE_MAINTENANCE",
    "MODELS",
    "SQL",
];

/// List shows unpinned terminated clusters for this long.
const LIST_RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Whether list shows the cluster: everything but unpinned clusters terminated over 30 days ago.
pub(super) fn listed(rec: &ClusterRecord, now: i64) -> bool {
    rec.pinned
        || rec.state != TERMINATED
        || rec
            .terminated_time
            .is_none_or(|at| now - at <= LIST_RETENTION_MS)
}

fn state_rank(state: &str) -> usize {
    [
        RUNNING,
        PENDING,
        RESIZING,
        RESTARTING,
        TERMINATING,
        TERMINATED,
    ]
    .iter()
    .position(|s| *s == state)
    .unwrap_or(usize::MAX)
}

pub(super) fn cluster_name(rec: &ClusterRecord) -> &str {
    rec.spec
        .get("cluster_name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The default order: state (active first), then pinned first, then name.
pub(super) fn sort_default(items: &mut [&ClusterRecord]) {
    items.sort_by(|a, b| {
        (
            state_rank(&a.state),
            !a.pinned,
            cluster_name(a),
            &a.cluster_id,
        )
            .cmp(&(
                state_rank(&b.state),
                !b.pinned,
                cluster_name(b),
                &b.cluster_id,
            ))
    });
}

/// The 2.1 list's query: filters, order and page.
#[derive(Debug, Default)]
pub(super) struct ListQuery {
    states: Vec<String>,
    sources: Vec<String>,
    pinned: Option<bool>,
    policy_id: Option<String>,
    by_name: bool,
    descending: bool,
    pub(super) page_size: usize,
    pub(super) offset: usize,
}

fn one_of(values: Vec<&str>, allowed: &[&str], key: &str) -> ApiResult<Vec<String>> {
    values
        .into_iter()
        .map(|v| {
            if allowed.contains(&v) {
                Ok(v.to_string())
            } else {
                Err(ApiError::invalid(format!("Invalid value for {key}: {v}")))
            }
        })
        .collect()
}

impl ListQuery {
    pub(super) fn parse(query: &QueryPairs) -> ApiResult<Self> {
        let pinned = match query.get("filter_by.is_pinned") {
            None => None,
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            Some(v) => {
                return Err(ApiError::invalid(format!(
                    "Invalid value for filter_by.is_pinned: {v}"
                )));
            }
        };
        let field = query.get("sort_by.field").unwrap_or("DEFAULT");
        let direction = query.get("sort_by.direction").unwrap_or("ASC");
        one_of(vec![field], &["DEFAULT", "CLUSTER_NAME"], "sort_by.field")?;
        one_of(vec![direction], &["ASC", "DESC"], "sort_by.direction")?;
        Ok(ListQuery {
            states: one_of(
                query.all("filter_by.cluster_states"),
                &STATES,
                "filter_by.cluster_states",
            )?,
            sources: one_of(
                query.all("filter_by.cluster_sources"),
                &SOURCES,
                "filter_by.cluster_sources",
            )?,
            pinned,
            policy_id: query
                .get("filter_by.policy_id")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            by_name: field == "CLUSTER_NAME",
            descending: direction == "DESC",
            page_size: page_size(query.int("page_size")?)?,
            offset: query
                .get("page_token")
                .map(|token| decode_offset_token(token, "clusters"))
                .transpose()?
                .unwrap_or(0),
        })
    }

    pub(super) fn matches(&self, rec: &ClusterRecord) -> bool {
        (self.states.is_empty() || self.states.contains(&rec.state))
            && (self.sources.is_empty() || self.sources.contains(&rec.cluster_source))
            && self.pinned.is_none_or(|p| p == rec.pinned)
            && self
                .policy_id
                .as_deref()
                .is_none_or(|p| str_field(&rec.spec, "policy_id") == Some(p))
    }

    pub(super) fn sort(&self, items: &mut [&ClusterRecord]) {
        if self.by_name {
            items.sort_by(|a, b| {
                (cluster_name(a), &a.cluster_id).cmp(&(cluster_name(b), &b.cluster_id))
            });
        } else {
            sort_default(items);
        }
        if self.descending {
            items.reverse();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::cluster_lifecycle::tests::record;
    use serde_json::json;

    #[test]
    fn default_sort_is_state_pinned_name() {
        let mut a = record(TERMINATED, 0);
        a.cluster_id = "a".into();
        let mut b = record(RUNNING, 0);
        b.cluster_id = "b".into();
        b.spec.insert("cluster_name".into(), json!("zz"));
        let mut c = record(RUNNING, 0);
        c.cluster_id = "c".into();
        c.spec.insert("cluster_name".into(), json!("aa"));
        let mut d = record(RUNNING, 0);
        d.cluster_id = "d".into();
        d.pinned = true;
        d.spec.insert("cluster_name".into(), json!("zzz"));
        let mut items = vec![&a, &b, &c, &d];
        sort_default(&mut items);
        let ids: Vec<&str> = items.iter().map(|r| r.cluster_id.as_str()).collect();
        assert_eq!(ids, ["d", "c", "b", "a"]);
    }
}

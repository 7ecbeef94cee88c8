//! Group entities: what an instance stands for when its own id is new.
//!
//! Autoscaling replaces instance ids every day; the tier they belong to stays. Each pair carries
//! the group the records gave its instance ([`crate::GroupBy`]: subnet or VPC); a [`GroupMap`]
//! read from a file (an Auto Scaling group, a tag) overrides it for the instances it lists.
//! Mapped groups are written `group:<name>`, so they can never collide with an instance, subnet
//! or VPC id. Training data holds both the instance's and the group's pairs, and a scorer falls
//! back to the group for an instance the model never saw ([`EntityScope`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::pairs::Pair;

/// The prefix of groups given by a mapping file.
pub const MAPPED_PREFIX: &str = "group:";

/// An error in a group mapping file.
#[derive(Debug, thiserror::Error)]
pub enum GroupMapError {
    #[error("group mapping line {line}: {message}")]
    Line { line: usize, message: String },
}

/// Instance id -> group name, from a CSV of `instance_id,group` lines (a header line
/// `instance_id,group`, blank lines and `#` comments are skipped).
#[derive(Debug, Clone, Default)]
pub struct GroupMap {
    groups: HashMap<Box<str>, Arc<str>>,
}

impl GroupMap {
    pub fn parse_csv(text: &str) -> Result<GroupMap, GroupMapError> {
        let mut groups = HashMap::new();
        let mut interned: HashMap<String, Arc<str>> = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: &str| GroupMapError::Line {
                line: i + 1,
                message: message.to_string(),
            };
            let Some((instance, group)) = line.split_once(',') else {
                return Err(err("expected instance_id,group"));
            };
            let (instance, group) = (instance.trim(), group.trim());
            if i == 0 && instance.eq_ignore_ascii_case("instance_id") {
                continue;
            }
            if instance.is_empty() || group.is_empty() {
                return Err(err("empty instance id or group"));
            }
            if group.contains(',') {
                return Err(err("a group name cannot contain a comma"));
            }
            let name = interned
                .entry(group.to_string())
                .or_insert_with(|| Arc::from(format!("{MAPPED_PREFIX}{group}")))
                .clone();
            if let Some(old) = groups.insert(Box::from(instance), name.clone())
                && old != name
            {
                return Err(err(&format!(
                    "instance {instance} is mapped twice ({} and {group})",
                    &old[MAPPED_PREFIX.len()..]
                )));
            }
        }
        Ok(GroupMap { groups })
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The mapped group of `instance`, if listed.
    pub fn get(&self, instance: &str) -> Option<&Arc<str>> {
        self.groups.get(instance)
    }

    /// Replaces the group of every pair whose instance is listed.
    pub fn apply(&self, pairs: &mut [Pair]) {
        if self.groups.is_empty() {
            return;
        }
        for pair in pairs {
            if let Some(group) = self.groups.get(&*pair.entity) {
                pair.group = Some(group.clone());
            }
        }
    }
}

/// Which entity scored a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityScope {
    /// The instance itself: the model was trained on it.
    Instance,
    /// Its group: the instance is new to the model, its group is not.
    Group,
    /// Neither is known to the model; the pair is not scored as an anomaly.
    Unseen,
    /// The scorer cannot tell (an endpoint without the trained entity list): the instance.
    Unknown,
}

impl EntityScope {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityScope::Instance => "instance",
            EntityScope::Group => "group",
            EntityScope::Unseen => "unseen",
            EntityScope::Unknown => "unknown",
        }
    }
}

/// The entity to score `pair` as, given what the model was trained on (`None`: not known).
pub fn scoring_entity<'a>(
    pair: &'a Pair,
    trained: Option<&dyn Fn(&str) -> bool>,
) -> (&'a Arc<str>, EntityScope) {
    let Some(trained) = trained else {
        return (&pair.entity, EntityScope::Unknown);
    };
    if trained(&pair.entity) {
        return (&pair.entity, EntityScope::Instance);
    }
    match &pair.group {
        Some(group) if trained(group) => (group, EntityScope::Group),
        _ => (&pair.entity, EntityScope::Unseen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pair(entity: &str, group: Option<&str>) -> Pair {
        Pair {
            entity: entity.into(),
            ip: Ipv4Addr::new(10, 0, 0, 1),
            count: 1,
            group: group.map(Arc::from),
            facts: Default::default(),
        }
    }

    #[test]
    fn parses_mapping_files() {
        let m = GroupMap::parse_csv(
            "instance_id,group\n# web tier\ni-1, asg-web\n\ni-2,asg-web\ni-3,asg-db\n",
        )
        .unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("i-1").map(|g| &**g), Some("group:asg-web"));
        assert!(Arc::ptr_eq(m.get("i-1").unwrap(), m.get("i-2").unwrap()));
        assert!(m.get("i-9").is_none());
        // Without a header.
        assert_eq!(GroupMap::parse_csv("i-1,a").unwrap().len(), 1);
        assert!(GroupMap::parse_csv("").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        for (text, line, what) in [
            ("i-1,a\ni-2\n", 2, "expected"),
            ("i-1,\n", 1, "empty"),
            ("i-1,a,b\n", 1, "comma"),
            ("i-1,a\ni-1,b\n", 2, "mapped twice"),
        ] {
            let e = GroupMap::parse_csv(text).unwrap_err().to_string();
            assert!(e.contains(&format!("line {line}")), "{e}");
            assert!(e.contains(what), "{e}");
        }
        // The same mapping twice is fine.
        assert!(GroupMap::parse_csv("i-1,a\ni-1,a\n").is_ok());
    }

    #[test]
    fn mapping_overrides_the_records_group() {
        let m = GroupMap::parse_csv("i-1,asg-web\n").unwrap();
        let mut pairs = vec![pair("i-1", Some("subnet-1")), pair("i-2", Some("subnet-1"))];
        m.apply(&mut pairs);
        assert_eq!(pairs[0].group.as_deref(), Some("group:asg-web"));
        assert_eq!(pairs[1].group.as_deref(), Some("subnet-1"));
    }

    #[test]
    fn scores_as_instance_then_group() {
        let trained = |e: &str| e == "i-old" || e == "subnet-1";
        let t: &dyn Fn(&str) -> bool = &trained;
        let old = pair("i-old", Some("subnet-1"));
        let new = pair("i-new", Some("subnet-1"));
        let lost = pair("i-new", Some("subnet-9"));
        let bare = pair("i-new", None);
        assert_eq!(
            scoring_entity(&old, Some(t)),
            (&old.entity, EntityScope::Instance)
        );
        assert_eq!(
            scoring_entity(&new, Some(t)).1,
            EntityScope::Group,
            "a new instance is its subnet"
        );
        assert_eq!(&**scoring_entity(&new, Some(t)).0, "subnet-1");
        assert_eq!(scoring_entity(&lost, Some(t)).1, EntityScope::Unseen);
        assert_eq!(scoring_entity(&bare, Some(t)).1, EntityScope::Unseen);
        assert_eq!(
            scoring_entity(&new, None),
            (&new.entity, EntityScope::Unknown)
        );
    }
}

//! What the earlier operations of a step are about to change, while the step is planned.
//!
//! Facts are gathered once, before anything changes. When an earlier operation plans to change
//! something a later one reads (the same path, a package git needs, the user whose key is
//! added), the later one's fact is stale. Operations that can follow the predicted content of a
//! file (line edits after a file write) plan on the prediction; the others are planned against
//! fresh facts gathered after the earlier changes are applied.

use std::collections::{HashMap, HashSet};

/// Something on a host that operations read and change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// A path in the file system.
    Path(String),
    /// A Debian package.
    Package(String),
    /// A user account.
    User(String),
    /// A group.
    Group(String),
}

/// The planned changes so far in the current phase of a step.
#[derive(Debug, Default)]
pub struct Simulation {
    dirty: HashSet<Resource>,
    contents: HashMap<String, Vec<u8>>,
}

impl Simulation {
    /// Starts a phase with nothing changed.
    pub fn new() -> Simulation {
        Simulation::default()
    }

    /// Whether an earlier operation of this phase plans to change `resource`.
    pub fn is_dirty(&self, resource: &Resource) -> bool {
        self.dirty.contains(resource)
    }

    /// Whether any of `resources` is about to change.
    pub fn any_dirty(&self, resources: &[Resource]) -> bool {
        resources.iter().any(|r| self.is_dirty(r))
    }

    /// Records that `resources` are about to change.
    pub fn mark(&mut self, resources: impl IntoIterator<Item = Resource>) {
        self.dirty.extend(resources);
    }

    /// The content a file at `path` will have once the earlier changes are applied, if an earlier
    /// operation predicted it.
    pub fn content(&self, path: &str) -> Option<&[u8]> {
        self.contents.get(path).map(Vec::as_slice)
    }

    /// Records the content `path` will have.
    pub fn set_content(&mut self, path: &str, content: Vec<u8>) {
        self.contents.insert(path.to_string(), content);
    }

    /// Forgets the predicted content of `path` (it changes in a way not predicted).
    pub fn forget_content(&mut self, path: &str) {
        self.contents.remove(path);
    }
}

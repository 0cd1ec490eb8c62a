//! Where pull requests live, behind one seam: GitHub is the implementation
//! (`crate::github`); pipeline tests use [`MemoryForge`].

use std::sync::Mutex;

use crate::github::{Github, GithubError, Pr, PrContent};

/// Why a forge call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForgeError {
    /// GitHub's answer (with what to check).
    #[error(transparent)]
    Github(#[from] GithubError),
}

/// The pull requests and comments promptc keeps on a forge.
#[async_trait::async_trait]
pub trait Forge: Send + Sync {
    /// Opens the pull request for `content.head_branch`, or updates the open one.
    async fn upsert_pr(&self, content: &PrContent<'_>) -> Result<Pr, ForgeError>;
    /// Creates promptc's comment on pull request `number`, or updates it. Returns its URL.
    async fn upsert_sticky_comment(&self, number: u64, body: &str) -> Result<String, ForgeError>;
    /// The open pull request of `branch` that the latest run no longer
    /// supports: retitled, its body replaced, made a draft, with a comment
    /// saying why. `None` when the branch has no open pull request.
    async fn mark_stale(
        &self,
        branch: &str,
        title: &str,
        body: &str,
        comment: &str,
    ) -> Result<Option<Pr>, ForgeError>;
    /// A pull request of `branch` that a person closed without merging,
    /// proposing the pack with this id (named in its body).
    async fn rejected(&self, branch: &str, pack_id: &str) -> Result<Option<Pr>, ForgeError>;
    /// Closes the open pull request of `branch`, with `comment`, when its
    /// body records a base pack other than `base_sha256`.
    async fn close_if_based_elsewhere(
        &self,
        branch: &str,
        base_sha256: &str,
        comment: &str,
    ) -> Result<Option<Pr>, ForgeError>;
    /// The merged pull request of `branch` that proposed the pack with this id.
    async fn introduced(&self, branch: &str, pack_id: &str) -> Result<Option<Pr>, ForgeError>;
    /// Creates promptc's realized-lift comment on pull request `number`, or
    /// updates it. Returns its URL.
    async fn upsert_realized_comment(&self, number: u64, body: &str) -> Result<String, ForgeError>;
}

#[async_trait::async_trait]
impl Forge for Github {
    async fn upsert_pr(&self, content: &PrContent<'_>) -> Result<Pr, ForgeError> {
        Ok(Github::upsert_pr(self, content).await?)
    }
    async fn upsert_sticky_comment(&self, number: u64, body: &str) -> Result<String, ForgeError> {
        Ok(Github::upsert_sticky_comment(self, number, body).await?)
    }
    async fn mark_stale(
        &self,
        branch: &str,
        title: &str,
        body: &str,
        comment: &str,
    ) -> Result<Option<Pr>, ForgeError> {
        Ok(Github::mark_stale(self, branch, title, body, comment).await?)
    }
    async fn rejected(&self, branch: &str, pack_id: &str) -> Result<Option<Pr>, ForgeError> {
        Ok(Github::closed_unmerged(self, branch, pack_id).await?)
    }
    async fn close_if_based_elsewhere(
        &self,
        branch: &str,
        base_sha256: &str,
        comment: &str,
    ) -> Result<Option<Pr>, ForgeError> {
        Ok(Github::close_if_based_elsewhere(self, branch, base_sha256, comment).await?)
    }
    async fn introduced(&self, branch: &str, pack_id: &str) -> Result<Option<Pr>, ForgeError> {
        Ok(Github::merged_with(self, branch, pack_id).await?)
    }
    async fn upsert_realized_comment(&self, number: u64, body: &str) -> Result<String, ForgeError> {
        Ok(Github::upsert_realized_comment(self, number, body).await?)
    }
}

/// One pull request as [`MemoryForge`] holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPr {
    /// Its number.
    pub number: u64,
    /// Head branch.
    pub head: String,
    /// Base branch.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Draft.
    pub draft: bool,
    /// Labels.
    pub labels: Vec<String>,
    /// Closed without being merged.
    pub closed: bool,
    /// Merged.
    pub merged: bool,
}

/// A forge in memory: pull requests by head branch, comments by number.
#[derive(Debug, Default)]
pub struct MemoryForge {
    prs: Mutex<Vec<StoredPr>>,
    comments: Mutex<Vec<(u64, String)>>,
    realized: Mutex<Vec<(u64, String)>>,
}

impl MemoryForge {
    /// The pull requests so far.
    pub fn prs(&self) -> Vec<StoredPr> {
        self.prs.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// A person closes pull request `number` without merging it.
    pub fn close(&self, number: u64) {
        if let Ok(mut prs) = self.prs.lock()
            && let Some(p) = prs.iter_mut().find(|p| p.number == number)
        {
            p.closed = true;
        }
    }

    /// A person merges pull request `number`.
    pub fn merge(&self, number: u64) {
        if let Ok(mut prs) = self.prs.lock()
            && let Some(p) = prs.iter_mut().find(|p| p.number == number)
        {
            p.merged = true;
        }
    }

    /// The realized-lift comments so far, as (pull request, body).
    pub fn realized_comments(&self) -> Vec<(u64, String)> {
        self.realized.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The comments so far, as (pull request, body).
    pub fn comments(&self) -> Vec<(u64, String)> {
        self.comments.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Applies `change` to the open pull request of `branch`; its number when
    /// there is one and `change` says it changed it.
    fn change_open(&self, branch: &str, change: impl FnOnce(&mut StoredPr) -> bool) -> Option<u64> {
        let mut prs = self.prs.lock().unwrap_or_else(|e| e.into_inner());
        let p = prs
            .iter_mut()
            .find(|p| p.head == branch && !p.closed && !p.merged)?;
        change(p).then_some(p.number)
    }
}

/// Sets the one comment of pull request `number` in `comments`.
fn upsert_in(comments: &Mutex<Vec<(u64, String)>>, number: u64, body: &str) {
    let mut cs = comments.lock().unwrap_or_else(|e| e.into_inner());
    match cs.iter_mut().position(|(n, _)| *n == number) {
        Some(i) => cs[i].1 = body.to_string(),
        None => cs.push((number, body.to_string())),
    }
}

/// A pull request of the memory forge, as callers see it.
fn memory_pr(number: u64, created: bool) -> Pr {
    Pr {
        number,
        url: format!("memory://pull/{number}"),
        created,
    }
}

#[async_trait::async_trait]
impl Forge for MemoryForge {
    async fn upsert_pr(&self, c: &PrContent<'_>) -> Result<Pr, ForgeError> {
        let mut prs = self.prs.lock().unwrap_or_else(|e| e.into_inner());
        let stored = StoredPr {
            number: 0,
            head: c.head_branch.into(),
            base: c.base_branch.into(),
            title: c.title.into(),
            body: c.body.into(),
            draft: c.draft,
            labels: c.labels.to_vec(),
            closed: false,
            merged: false,
        };
        if let Some(p) = prs
            .iter_mut()
            .find(|p| p.head == c.head_branch && !p.closed && !p.merged)
        {
            *p = StoredPr {
                number: p.number,
                ..stored
            };
            return Ok(memory_pr(p.number, false));
        }
        let number = prs.len() as u64 + 1;
        prs.push(StoredPr { number, ..stored });
        Ok(memory_pr(number, true))
    }

    async fn upsert_sticky_comment(&self, number: u64, body: &str) -> Result<String, ForgeError> {
        upsert_in(&self.comments, number, body);
        Ok(format!("memory://pull/{number}#comment"))
    }

    async fn mark_stale(
        &self,
        branch: &str,
        title: &str,
        body: &str,
        comment: &str,
    ) -> Result<Option<Pr>, ForgeError> {
        let Some(number) = self.change_open(branch, |p| {
            (p.title, p.body, p.draft) = (title.into(), body.into(), true);
            true
        }) else {
            return Ok(None);
        };
        self.upsert_sticky_comment(number, comment).await?;
        Ok(Some(memory_pr(number, false)))
    }

    async fn close_if_based_elsewhere(
        &self,
        branch: &str,
        base_sha256: &str,
        comment: &str,
    ) -> Result<Option<Pr>, ForgeError> {
        let Some(number) = self.change_open(branch, |p| {
            let elsewhere = crate::github::recorded_base(&p.body).is_some_and(|b| b != base_sha256);
            p.closed |= elsewhere;
            elsewhere
        }) else {
            return Ok(None);
        };
        self.upsert_sticky_comment(number, comment).await?;
        Ok(Some(memory_pr(number, false)))
    }

    async fn rejected(&self, branch: &str, pack_id: &str) -> Result<Option<Pr>, ForgeError> {
        let prs = self.prs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(prs
            .iter()
            .find(|p| p.head == branch && p.closed && !p.merged && p.body.contains(pack_id))
            .map(|p| memory_pr(p.number, false)))
    }

    async fn introduced(&self, branch: &str, pack_id: &str) -> Result<Option<Pr>, ForgeError> {
        let prs = self.prs.lock().unwrap_or_else(|e| e.into_inner());
        Ok(prs
            .iter()
            .find(|p| p.head == branch && p.merged && p.body.contains(pack_id))
            .map(|p| memory_pr(p.number, false)))
    }

    async fn upsert_realized_comment(&self, number: u64, body: &str) -> Result<String, ForgeError> {
        upsert_in(&self.realized, number, body);
        Ok(format!("memory://pull/{number}#realized"))
    }
}

//! A small file kept on a ref of its own on the remote (not a branch: it
//! shows in no branch list and triggers no push workflow), read and then
//! updated by a fast-forward push, so two runs that raced cannot both write.
//!
//! `ci` keeps its look ledger this way ([`crate::git::Repo::read_ref_file`],
//! [`crate::git::Repo::write_ref_file`]).

use std::cell::RefCell;
use std::path::Path;

use git2::{Direction, FetchOptions, Oid, PushOptions, Signature};

use super::{GitError, Repo, callbacks, full_message, is_ssh};
use crate::lm::safe_url;
use crate::secret::Secret;

/// A ref file larger than this is refused: it is promptc's own bookkeeping
/// and stays small, so anything bigger is not what promptc wrote.
pub const MAX_REF_FILE_BYTES: usize = 4 << 20;

/// A file as read from a ref: the ref's tip when the remote has it, and the
/// file's bytes when the tip's tree holds it.
#[derive(Debug, Clone, Default)]
pub struct RefFile {
    /// The commit the ref pointed at (the parent of the next write).
    pub tip: Option<Oid>,
    /// The file's contents.
    pub bytes: Option<Vec<u8>>,
}

/// Where and as whom a ref file is written.
pub struct RefWrite<'a> {
    /// The remote (`origin`).
    pub remote: &'a str,
    /// The full ref name (`refs/promptc/looks`).
    pub refname: &'a str,
    /// The file's path in the ref's tree.
    pub path: &'a Path,
    /// Its new contents.
    pub bytes: &'a [u8],
    /// The commit message; promptc's trailer is appended.
    pub message: &'a str,
    /// Author and committer name.
    pub author_name: &'a str,
    /// Author and committer email.
    pub author_email: &'a str,
    /// Sent as the password of HTTP basic auth when the remote asks.
    pub token: Option<&'a Secret>,
}

impl Repo {
    /// Fetches `refname` from `remote` and reads `path` in its tree.
    pub fn read_ref_file(
        &self,
        remote_name: &str,
        refname: &str,
        path: &Path,
        token: Option<&Secret>,
    ) -> Result<RefFile, GitError> {
        let (mut remote, remote_err) = self.open_remote(remote_name)?;
        let tip = {
            let conn = remote
                .connect_auth(Direction::Fetch, Some(callbacks(token)), None)
                .map_err(|e| remote_err(format!("connecting: {}", e.message())))?;
            conn.list()
                .map_err(|e| remote_err(format!("listing refs: {}", e.message())))?
                .iter()
                .find(|h| h.name() == refname)
                .map(|h| h.oid())
        };
        let Some(tip) = tip else {
            return Ok(RefFile::default());
        };
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(token));
        remote
            .fetch(
                &[format!("+{refname}:{}", fetched_ref(refname))],
                Some(&mut fo),
                None,
            )
            .map_err(|e| remote_err(format!("fetching {refname}: {}", e.message())))?;
        let tree = self.repo.find_commit(tip)?.tree()?;
        let bytes = match tree.get_path(path) {
            Ok(entry) => {
                let blob = entry.to_object(&self.repo)?.peel_to_blob()?;
                if blob.size() > MAX_REF_FILE_BYTES {
                    return Err(remote_err(format!(
                        "{refname}:{} is {} bytes, more than promptc ever writes there ({MAX_REF_FILE_BYTES}); delete the ref if it is not promptc's",
                        path.display(),
                        blob.size()
                    )));
                }
                Some(blob.content().to_vec())
            }
            Err(_) => None,
        };
        Ok(RefFile {
            tip: Some(tip),
            bytes,
        })
    }

    /// Commits `w.bytes` as `w.path` on top of `read.tip` (the tree otherwise
    /// unchanged) and pushes it to `w.refname` without force: if another run
    /// moved the ref since `read`, the push is refused and nothing changes.
    pub fn write_ref_file(&self, read: &RefFile, w: &RefWrite<'_>) -> Result<Oid, GitError> {
        let (mut remote, remote_err) = self.open_remote(w.remote)?;
        let parent = read.tip.map(|t| self.repo.find_commit(t)).transpose()?;
        let base_tree = parent.as_ref().map(|p| p.tree()).transpose()?;
        let mut tb = self.repo.treebuilder(None)?;
        if let Some(t) = &base_tree {
            for e in t.iter() {
                tb.insert(e.name_bytes(), e.id(), e.filemode())?;
            }
        }
        // Ref files live at the tree's top level: one name, no folders.
        let name = w.path.to_string_lossy();
        if name.contains('/') || name.is_empty() {
            return Err(remote_err(format!(
                "`{name}` is not a plain file name for {}",
                w.refname
            )));
        }
        tb.insert(name.as_bytes(), self.repo.blob(w.bytes)?, 0o100644)?;
        let tree = self.repo.find_tree(tb.write()?)?;
        let sig = Signature::now(w.author_name, w.author_email)?;
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        let commit =
            self.repo
                .commit(None, &sig, &sig, &full_message(w.message), &tree, &parents)?;
        let local = format!(
            "refs/promptc/push/{}",
            w.refname.trim_start_matches("refs/")
        );
        self.repo
            .reference(&local, commit, true, "promptc: ref file to push")?;
        let refused: RefCell<Option<String>> = RefCell::new(None);
        let mut cb = callbacks(w.token);
        cb.push_update_reference(|name, status| {
            if let Some(msg) = status {
                *refused.borrow_mut() = Some(format!("{name}: {msg}"));
            }
            Ok(())
        });
        let mut po = PushOptions::new();
        po.remote_callbacks(cb);
        // No `+`: only a fast-forward of the tip this run read is accepted.
        let pushed = remote.push(&[format!("{local}:{}", w.refname)], Some(&mut po));
        drop(po);
        if let Ok(mut r) = self.repo.find_reference(&local) {
            let _ = r.delete();
        }
        pushed.map_err(|e| remote_err(format!("pushing {}: {}", w.refname, e.message())))?;
        if let Some(msg) = refused.into_inner() {
            return Err(remote_err(format!(
                "the push of {} was refused ({msg}); another run may have written it at the same time",
                w.refname
            )));
        }
        Ok(commit)
    }

    /// The named remote, and a maker of errors that name it (credentials masked).
    #[allow(clippy::type_complexity)]
    pub(super) fn open_remote(
        &self,
        name: &str,
    ) -> Result<(git2::Remote<'_>, impl Fn(String) -> GitError + use<>), GitError> {
        let remote = self.repo.find_remote(name).map_err(|e| GitError::Remote {
            remote: name.into(),
            url: String::new(),
            message: e.message().into(),
        })?;
        let url = safe_url(remote.url().unwrap_or(""));
        let remote_name = name.to_string();
        let url2 = url.clone();
        let err = move |message: String| GitError::Remote {
            remote: remote_name.clone(),
            url: url2.clone(),
            message: crate::secret::redact(&message),
        };
        if is_ssh(&url) {
            return Err(err(
                "is an SSH URL; promptc pushes over HTTPS (or file://) with a token: add an HTTPS remote and pass --remote NAME".into(),
            ));
        }
        Ok((remote, err))
    }
}

/// The local ref a fetched ref file's commit is kept under.
fn fetched_ref(refname: &str) -> String {
    format!(
        "refs/promptc/fetched/{}",
        refname.trim_start_matches("refs/")
    )
}

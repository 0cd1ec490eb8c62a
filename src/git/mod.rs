//! git2: what a push changed, a file at a revision, and publishing promptc's
//! rolling branch.
//!
//! Publishing never touches the working tree, the index, HEAD or any local
//! branch: the commit is built in the object database from the remote default
//! branch's tree, and pushed from a private ref.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use git2::{
    Cred, CredentialType, Direction, FetchOptions, IndexEntry, IndexTime, Oid, PushOptions,
    RemoteCallbacks, Repository, Signature,
};

use crate::lm::safe_url;
use crate::lm::secret::Secret;

mod ledger;

pub use ledger::{MAX_REF_FILE_BYTES, RefFile, RefWrite};

/// The trailer that marks a commit as promptc's own. A branch whose commits
/// all carry it may be rewritten; any other commit there is someone's work.
pub const TRAILER: &str = "Generated-by: promptc";

/// A git failure, with what promptc was doing.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// No repository at or above the path.
    #[error("{path}: not in a git repository ({source})")]
    Open {
        /// Where promptc looked.
        path: PathBuf,
        /// libgit2's reason.
        source: git2::Error,
    },
    /// A revision that does not resolve to a commit here.
    #[error("revision `{rev}` is not a commit in this checkout ({message})")]
    Rev {
        /// The revision as given.
        rev: String,
        /// libgit2's reason.
        message: String,
    },
    /// The history a question needs is not in this (shallow) checkout.
    #[error("commit {rev} is not in this checkout (a shallow clone?)")]
    MissingHistory {
        /// The absent commit.
        rev: String,
    },
    /// Talking to the remote failed.
    #[error("remote `{remote}` ({url}): {message}")]
    Remote {
        /// The remote's name.
        remote: String,
        /// Its URL, credentials masked.
        url: String,
        /// What failed.
        message: String,
    },
    /// A file the run read changed on the default branch since: publishing
    /// would silently undo that change.
    #[error(
        "{path} changed on `{branch}` since this run read it; promptc will not overwrite that change (the next run starts from it)"
    )]
    Stale {
        /// The file.
        path: PathBuf,
        /// The default branch.
        branch: String,
    },
    /// Any other libgit2 failure.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

/// A repository, opened from anywhere inside its working tree.
pub struct Repo {
    repo: Repository,
    workdir: PathBuf,
}

/// Decides whether two versions of a file (path, old, new) say the same.
pub type Equivalent = dyn Fn(&Path, &[u8], &[u8]) -> bool;

/// What to publish and where.
pub struct Publish<'a> {
    /// The remote to push to (`origin` in a checkout).
    pub remote: &'a str,
    /// The default branch the rolling branch is based on.
    pub base_branch: &'a str,
    /// The rolling branch (`promptc/<signature>`).
    pub branch: &'a str,
    /// Repository-relative paths and their new contents.
    pub files: &'a [(PathBuf, Vec<u8>)],
    /// The commit message; [`TRAILER`] is appended.
    pub message: &'a str,
    /// Author and committer name.
    pub author_name: &'a str,
    /// Author and committer email.
    pub author_email: &'a str,
    /// Sent as the password of HTTP basic auth when the remote asks.
    pub token: Option<&'a Secret>,
    /// Whether a file already on the branch (first argument) says the same
    /// as the new one, so a re-run that only moved a timestamp pushes nothing.
    pub equivalent: Option<&'a Equivalent>,
    /// Files as this run read them: if the default branch now holds another
    /// version of one, nothing is published ([`GitError::Stale`]).
    pub expect: &'a [(PathBuf, Option<Vec<u8>>)],
}

/// What [`Repo::publish`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// The branch pushed (the rolling branch, or a fresh name when it carried a foreign commit).
    pub branch: String,
    /// The commit at its tip.
    pub commit: String,
    /// The default branch commit it is based on.
    pub base_commit: String,
    /// False when the branch already held exactly this change.
    pub pushed: bool,
    /// Why the rolling branch was not used, when it was not.
    pub moved: Option<String>,
}

/// The plan for a branch, without pushing (for `--dry-run`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BranchPlan {
    /// The branch promptc would push.
    pub branch: String,
    /// The default branch it would be based on.
    pub base_branch: String,
    /// The remote, credentials masked (none when the checkout has no such remote).
    pub remote_url: Option<String>,
    /// Repository-relative paths the commit would write.
    pub files: Vec<PathBuf>,
    /// The commit message.
    pub message: String,
    /// `Name <email>`.
    pub author: String,
}

impl Repo {
    /// The repository containing `path`.
    pub fn discover(path: &Path) -> Result<Repo, GitError> {
        let repo = Repository::discover(path).map_err(|source| GitError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let workdir = repo
            .workdir()
            .map(Path::to_path_buf)
            .ok_or_else(|| GitError::Open {
                path: path.to_path_buf(),
                source: git2::Error::from_str("a bare repository has no working tree"),
            })?;
        let workdir = workdir.canonicalize().unwrap_or(workdir);
        Ok(Repo { repo, workdir })
    }

    /// The working tree's root.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// `path` relative to the working tree, with `/` separators.
    pub fn relative(&self, path: &Path) -> Option<PathBuf> {
        // A file (or folders) that do not exist yet: canonicalize the nearest
        // existing ancestor and put the rest back.
        let mut existing = path.to_path_buf();
        let mut rest = Vec::new();
        let abs = loop {
            match existing.canonicalize() {
                Ok(p) => break p,
                Err(_) => {
                    rest.push(existing.file_name()?.to_os_string());
                    if !existing.pop() || existing.as_os_str().is_empty() {
                        existing = PathBuf::from(".");
                    }
                }
            }
        };
        let mut abs = abs;
        for part in rest.iter().rev() {
            abs.push(part);
        }
        abs.strip_prefix(&self.workdir).ok().map(Path::to_path_buf)
    }

    fn commit(&self, rev: &str) -> Result<git2::Commit<'_>, GitError> {
        let obj = self.repo.revparse_single(rev).map_err(|e| {
            if e.code() == git2::ErrorCode::NotFound && Oid::from_str(rev).is_ok() {
                GitError::MissingHistory { rev: rev.into() }
            } else {
                GitError::Rev {
                    rev: rev.into(),
                    message: e.message().into(),
                }
            }
        })?;
        obj.peel_to_commit().map_err(|e| GitError::Rev {
            rev: rev.into(),
            message: e.message().into(),
        })
    }

    /// The full id of a revision.
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        Ok(self.commit(rev)?.id().to_string())
    }

    /// Files added, modified or deleted between two revisions
    /// (repository-relative). [`GitError::MissingHistory`] when either commit
    /// is absent, as in a depth-1 checkout.
    pub fn changed_files(&self, before: &str, after: &str) -> Result<Vec<PathBuf>, GitError> {
        if before.chars().all(|c| c == '0') {
            // A branch's first push names no previous commit.
            return Err(GitError::MissingHistory { rev: before.into() });
        }
        let old = self.commit(before)?.tree()?;
        let new = self.commit(after)?.tree()?;
        let diff = self.repo.diff_tree_to_tree(Some(&old), Some(&new), None)?;
        let mut out: Vec<PathBuf> = diff
            .deltas()
            .flat_map(|d| [d.old_file().path(), d.new_file().path()])
            .flatten()
            .map(Path::to_path_buf)
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// A file's bytes at a revision; `None` when it does not exist there.
    pub fn file_at(&self, rev: &str, path: &Path) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self.commit(rev)?.tree()?;
        match tree.get_path(path) {
            Ok(entry) => {
                let blob = entry.to_object(&self.repo)?.peel_to_blob()?;
                Ok(Some(blob.content().to_vec()))
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// A remote's URL with any credentials masked.
    pub fn remote_url(&self, remote: &str) -> Result<String, GitError> {
        let r = self
            .repo
            .find_remote(remote)
            .map_err(|e| GitError::Remote {
                remote: remote.into(),
                url: String::new(),
                message: e.message().into(),
            })?;
        Ok(safe_url(r.url().unwrap_or("")))
    }

    /// The remote's default branch as the checkout recorded it (`refs/remotes/<remote>/HEAD`).
    pub fn remote_head(&self, remote: &str) -> Option<String> {
        let r = self
            .repo
            .find_reference(&format!("refs/remotes/{remote}/HEAD"))
            .ok()?;
        let target = r.symbolic_target().ok()??;
        target
            .strip_prefix(&format!("refs/remotes/{remote}/"))
            .map(str::to_string)
    }

    /// What [`Repo::publish`] would do, without touching the remote.
    pub fn plan(&self, p: &Publish<'_>) -> Result<BranchPlan, GitError> {
        Ok(BranchPlan {
            branch: p.branch.into(),
            base_branch: p.base_branch.into(),
            remote_url: self.remote_url(p.remote).ok(),
            files: p.files.iter().map(|(f, _)| f.clone()).collect(),
            message: full_message(p.message),
            author: format!("{} <{}>", p.author_name, p.author_email),
        })
    }

    /// Commits the files on top of the remote default branch and pushes the
    /// rolling branch. The branch is rewritten only when every commit on it
    /// that is not on the default branch is promptc's; otherwise a fresh name
    /// (`<branch>-2`, `-3`, …) is used and [`Published::moved`] says why.
    pub fn publish(&self, p: &Publish<'_>) -> Result<Published, GitError> {
        let (mut remote, remote_err) = self.open_remote(p.remote)?;

        // What the remote has now.
        let heads: HashMap<String, Oid> = {
            let conn = remote
                .connect_auth(Direction::Fetch, Some(callbacks(p.token)), None)
                .map_err(|e| remote_err(format!("connecting: {}", e.message())))?;
            conn.list()
                .map_err(|e| remote_err(format!("listing refs: {}", e.message())))?
                .iter()
                .map(|h| (h.name().to_string(), h.oid()))
                .collect()
        };
        let base_ref = format!("refs/heads/{}", p.base_branch);
        let Some(&base_oid) = heads.get(&base_ref) else {
            return Err(remote_err(format!(
                "has no branch `{}` to base the pull request on",
                p.base_branch
            )));
        };
        let mut candidates = vec![p.branch.to_string()];
        candidates.extend((2..=20).map(|i| format!("{}-{i}", p.branch)));
        let mut wanted: Vec<String> = vec![format!(
            "+{base_ref}:refs/remotes/{}/{}",
            p.remote, p.base_branch
        )];
        for c in &candidates {
            if heads.contains_key(&format!("refs/heads/{c}")) {
                wanted.push(format!("+refs/heads/{c}:refs/remotes/{}/{c}", p.remote));
            }
        }
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(callbacks(p.token));
        remote
            .fetch(&wanted, Some(&mut fo), None)
            .map_err(|e| remote_err(format!("fetching: {}", e.message())))?;

        // The first candidate name that is free or all promptc's.
        let Some((branch, existing, moved)) = self.choose_branch(&candidates, &heads, base_oid)?
        else {
            return Err(remote_err(format!(
                "every branch name from `{}` to `{}-20` carries commits promptc did not make",
                p.branch, p.branch
            )));
        };

        let base = self.repo.find_commit(base_oid)?;
        let base_tree = base.tree()?;
        for (path, bytes) in p.expect {
            let now = match base_tree.get_path(path) {
                Ok(e) => Some(e.to_object(&self.repo)?.peel_to_blob()?.content().to_vec()),
                Err(_) => None,
            };
            if now != *bytes {
                return Err(GitError::Stale {
                    path: path.clone(),
                    branch: p.base_branch.into(),
                });
            }
        }
        let tree_oid = self.tree_with(&base_tree, p.files)?;
        if let Some(tip) = existing {
            let tip = self.repo.find_commit(tip)?;
            if tip.parent_ids().eq([base_oid])
                && (tip.tree_id() == tree_oid || self.same_files(&tip, p)?)
            {
                return Ok(Published {
                    branch,
                    commit: tip.id().to_string(),
                    base_commit: base_oid.to_string(),
                    pushed: false,
                    moved,
                });
            }
        }
        let sig = Signature::now(p.author_name, p.author_email)?;
        let tree = self.repo.find_tree(tree_oid)?;
        let commit =
            self.repo
                .commit(None, &sig, &sig, &full_message(p.message), &tree, &[&base])?;

        self.push(&mut remote, p.token, commit, &branch)
            .map_err(remote_err)?;
        Ok(Published {
            branch,
            commit: commit.to_string(),
            base_commit: base_oid.to_string(),
            pushed: true,
            moved,
        })
    }

    /// The first of `candidates` that is free on the remote or holds only
    /// promptc's commits on `base`: its name, its tip when it exists, and why
    /// the rolling branch was passed over, when it was.
    #[allow(clippy::type_complexity)]
    fn choose_branch(
        &self,
        candidates: &[String],
        heads: &HashMap<String, Oid>,
        base_oid: Oid,
    ) -> Result<Option<(String, Option<Oid>, Option<String>)>, GitError> {
        let mut moved = None;
        for c in candidates {
            let Some(&tip) = heads.get(&format!("refs/heads/{c}")) else {
                return Ok(Some((c.clone(), None, moved)));
            };
            match self.foreign_commit(tip, base_oid)? {
                None => return Ok(Some((c.clone(), Some(tip), moved))),
                Some(foreign) => {
                    if moved.is_none() {
                        moved = Some(format!(
                            "branch `{c}` carries commit {} that promptc did not make ({}); promptc never rewrites someone's work, so it used a fresh branch",
                            &foreign.0[..foreign.0.len().min(12)],
                            foreign.1
                        ));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Force-pushes `commit` to `branch` on the remote through a temporary
    /// local ref; a refused update is an error with the remote's reason.
    fn push(
        &self,
        remote: &mut git2::Remote<'_>,
        token: Option<&Secret>,
        commit: Oid,
        branch: &str,
    ) -> Result<(), String> {
        let local = format!("refs/promptc/push/{branch}");
        self.repo
            .reference(&local, commit, true, "promptc: branch to push")
            .map_err(|e| e.message().to_string())?;
        let rejected: RefCell<Option<String>> = RefCell::new(None);
        let mut cb = callbacks(token);
        cb.push_update_reference(|name, status| {
            if let Some(msg) = status {
                *rejected.borrow_mut() = Some(format!("{name}: {msg}"));
            }
            Ok(())
        });
        let mut po = PushOptions::new();
        po.remote_callbacks(cb);
        let pushed = remote.push(&[format!("+{local}:refs/heads/{branch}")], Some(&mut po));
        drop(po);
        if let Ok(mut r) = self.repo.find_reference(&local) {
            let _ = r.delete();
        }
        pushed.map_err(|e| format!("pushing `{branch}`: {}", e.message()))?;
        if let Some(msg) = rejected.into_inner() {
            return Err(format!("the push was refused: {msg}"));
        }
        Ok(())
    }

    /// True when `tip` holds every file of `p` in an equivalent version and
    /// changes nothing else against its parent.
    fn same_files(&self, tip: &git2::Commit<'_>, p: &Publish<'_>) -> Result<bool, GitError> {
        let Some(eq) = p.equivalent else {
            return Ok(false);
        };
        let tree = tip.tree()?;
        let parent_tree = tip.parent(0)?.tree()?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&parent_tree), Some(&tree), None)?;
        let touched: Vec<PathBuf> = diff
            .deltas()
            .filter_map(|d| d.new_file().path().map(Path::to_path_buf))
            .collect();
        if touched.len() != p.files.len() {
            return Ok(false);
        }
        for (path, new) in p.files {
            if !touched.contains(path) {
                return Ok(false);
            }
            let old = match tree.get_path(path) {
                Ok(e) => e.to_object(&self.repo)?.peel_to_blob()?.content().to_vec(),
                Err(_) => return Ok(false),
            };
            if old != *new && !eq(path, &old, new) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The first commit reachable from `tip` but not from `base` that lacks
    /// [`TRAILER`], with its author.
    fn foreign_commit(&self, tip: Oid, base: Oid) -> Result<Option<(String, String)>, GitError> {
        let mut walk = self.repo.revwalk()?;
        walk.push(tip)?;
        walk.hide(base)?;
        for oid in walk {
            let oid = oid?;
            let c = self.repo.find_commit(oid)?;
            let ours = c
                .message()
                .is_ok_and(|m| m.lines().any(|l| l.trim() == TRAILER));
            if !ours {
                let who = c.author();
                return Ok(Some((
                    oid.to_string(),
                    format!("by {}", who.name().unwrap_or("an unnamed author")),
                )));
            }
        }
        Ok(None)
    }

    /// `base` with each file replaced or added, written to the object database.
    fn tree_with(
        &self,
        base: &git2::Tree<'_>,
        files: &[(PathBuf, Vec<u8>)],
    ) -> Result<Oid, GitError> {
        let mut index = git2::Index::new()?;
        index.read_tree(base)?;
        for (path, bytes) in files {
            let blob = self.repo.blob(bytes)?;
            let path_str = path.to_string_lossy().replace('\\', "/");
            index.add(&IndexEntry {
                ctime: IndexTime::new(0, 0),
                mtime: IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: bytes.len() as u32,
                id: blob,
                flags: path_str.len().min(0xfff) as u16,
                flags_extended: 0,
                path: path_str.into_bytes(),
            })?;
        }
        Ok(index.write_tree_to(&self.repo)?)
    }
}

/// `ssh://…` or scp-like `user@host:path`: this build speaks HTTPS and file only.
fn is_ssh(url: &str) -> bool {
    if url.starts_with("ssh://") || url.starts_with("git+ssh://") {
        return true;
    }
    !url.contains("://")
        && url
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'))
}

/// The message with promptc's trailer after a blank line.
fn full_message(message: &str) -> String {
    format!("{}\n\n{TRAILER}\n", message.trim_end())
}

/// Credentials for HTTPS remotes: the token as the basic-auth password, asked
/// once (libgit2 asks again after a refusal, which would loop forever).
fn callbacks(token: Option<&Secret>) -> RemoteCallbacks<'_> {
    let mut cb = RemoteCallbacks::new();
    let mut asked = false;
    cb.credentials(move |_url, username, allowed| {
        if asked {
            return Err(git2::Error::from_str(
                "the remote refused the token (does it have contents: write on this repository?)",
            ));
        }
        asked = true;
        match token {
            Some(t) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                Cred::userpass_plaintext(username.unwrap_or("x-access-token"), t.expose())
            }
            Some(_) => Err(git2::Error::from_str(
                "the remote wants credentials other than a token (promptc pushes over HTTPS)",
            )),
            None => Err(git2::Error::from_str(
                "the remote asks for credentials and no token was given (set GITHUB_TOKEN or pass --token)",
            )),
        }
    });
    cb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_remotes_are_recognised() {
        assert!(is_ssh("git@github.com:acme/gossip.git"));
        assert!(is_ssh("ssh://git@github.com/acme/gossip.git"));
        assert!(!is_ssh("https://github.com/acme/gossip.git"));
        assert!(!is_ssh("file:///tmp/remote.git"));
        assert!(!is_ssh("/tmp/remote.git"));
    }

    #[test]
    fn the_trailer_closes_the_message() {
        assert_eq!(
            full_message("chore(promptc): speak\n\nbody\n\n"),
            "chore(promptc): speak\n\nbody\n\nGenerated-by: promptc\n"
        );
    }
}

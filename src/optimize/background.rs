//! Full evaluations that run beside the search instead of between its
//! trials.
//!
//! A trial cannot be proposed before the trials it learns from are scored,
//! so the search has moments with few calls to make (its start, the last
//! calls of a trial, its end). A full evaluation's result is only needed to
//! choose the winner at the end (and which combination to evaluate fully
//! next only needs to know which were chosen), so full evaluations run
//! through those moments, behind the trials' own calls, and their results are
//! //! collected as they come in. The winner is chosen from the results in the
//! order the combinations were chosen, never the order they finished in: a
//! run chooses the same pack whatever the timing.

use std::future::Future;

use futures::StreamExt;
use futures::future::LocalBoxFuture;
use futures::stream::FuturesUnordered;

use crate::eval::EvalError;
use crate::lm::client::in_background;

/// An (instruction, demo set) combination, by index.
pub type Combo = (usize, usize);

/// A full evaluation's result.
pub type Done = (Combo, Result<f64, EvalError>);

/// Full evaluations under way beside the search.
#[derive(Default)]
pub struct Background<'a> {
    running: FuturesUnordered<LocalBoxFuture<'a, Done>>,
    /// Every combination started, in the order it was chosen.
    chosen: Vec<Combo>,
    finished: Vec<Done>,
}

impl<'a> Background<'a> {
    /// Starts `work`, the full evaluation of `combo`. Background work waits
    /// behind the search's own calls for a place in the endpoint's limit;
    /// foreground work (today's baseline, which every outcome needs) waits
    /// in line with them.
    pub fn start(
        &mut self,
        combo: Combo,
        background: bool,
        work: impl Future<Output = Result<f64, EvalError>> + 'a,
    ) {
        self.chosen.push(combo);
        self.running.push(Box::pin(async move {
            let result = if background {
                in_background(work).await
            } else {
                work.await
            };
            (combo, result)
        }));
    }

    /// The combinations started so far, in the order they were chosen.
    pub fn chosen(&self) -> &[Combo] {
        &self.chosen
    }

    /// Runs `main` to its end while the evaluations go on, keeping those
    /// that finish meanwhile.
    pub async fn beside<T>(&mut self, main: impl Future<Output = T>) -> T {
        let mut main = std::pin::pin!(main);
        loop {
            tokio::select! {
                biased;
                out = &mut main => return out,
                Some(done) = self.running.next(), if !self.running.is_empty() => {
                    self.finished.push(done);
                }
            }
        }
    }

    /// Waits for every evaluation under way.
    pub async fn finish(&mut self) {
        while let Some(done) = self.running.next().await {
            self.finished.push(done);
        }
    }

    /// The results that came in since the last call.
    pub fn take(&mut self) -> Vec<Done> {
        std::mem::take(&mut self.finished)
    }
}

/// The best of `full`'s scores, looking at the combinations in `order` and
/// keeping the first of equal scores; `None` before any is scored.
pub fn best_of(
    order: &[Combo],
    full: &std::collections::HashMap<Combo, f64>,
) -> Option<(Combo, f64)> {
    let mut best: Option<(Combo, f64)> = None;
    for combo in order {
        if let Some(&v) = full.get(combo)
            && best.is_none_or(|(_, b)| v > b)
        {
            best = Some((*combo, v));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn the_best_is_the_first_of_equal_scores_in_the_order_chosen() {
        let full: HashMap<Combo, f64> = [((0, 0), 50.0), ((3, 1), 70.0), ((1, 2), 70.0)].into();
        assert_eq!(
            best_of(&[(0, 0), (3, 1), (1, 2)], &full),
            Some(((3, 1), 70.0))
        );
        assert_eq!(
            best_of(&[(0, 0), (1, 2), (3, 1)], &full),
            Some(((1, 2), 70.0))
        );
        // Not scored yet: skipped.
        assert_eq!(best_of(&[(9, 9), (0, 0)], &full), Some(((0, 0), 50.0)));
        assert_eq!(best_of(&[(9, 9)], &full), None);
    }

    #[tokio::test]
    async fn results_are_kept_while_the_main_work_runs_and_all_come_in_at_the_end() {
        let mut bg = Background::default();
        bg.start((1, 0), true, async { Ok(10.0) });
        bg.start((2, 0), false, async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok(20.0)
        });
        let out = bg
            .beside(async {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                "main"
            })
            .await;
        assert_eq!(out, "main");
        let first: Vec<Combo> = bg.take().into_iter().map(|(c, _)| c).collect();
        assert_eq!(first, vec![(1, 0)]);
        bg.finish().await;
        let rest: Vec<(Combo, f64)> = bg
            .take()
            .into_iter()
            .map(|(c, r)| (c, r.unwrap()))
            .collect();
        assert_eq!(rest, vec![((2, 0), 20.0)]);
        assert_eq!(bg.chosen(), &[(1, 0), (2, 0)]);
    }
}

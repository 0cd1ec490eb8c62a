//! Which MIPRO trials are in flight: the rule that decides when the next
//! trial is proposed.
//!
//! A trial is proposed as the earliest in flight comes in, while at most
//! `limit` trials are in flight and they ask at most `questions` new
//! questions (a program on an example nobody asked yet) between them. The
//! counts are made when a trial is planned, from the trials and full
//! evaluations planned before it, never from which calls have come back: the
//! same seed and scores plan the same trials whatever the timing.

use std::collections::{HashSet, VecDeque};

use super::background::Combo;
use crate::traces::Turn;

/// The trials in flight and the questions asked so far.
pub struct Window {
    limit: usize,
    questions: usize,
    /// Each trial in flight, earliest first: its point and the new
    /// questions it asked.
    in_flight: VecDeque<(Vec<usize>, usize)>,
    /// New questions the trials in flight asked between them.
    outstanding: usize,
    /// Every (combination, example id) asked by a trial or full evaluation.
    asked: HashSet<(Combo, String)>,
}

impl Window {
    /// At most `limit` trials and `questions` new questions in flight.
    pub fn new(limit: usize, questions: usize) -> Window {
        Window {
            limit: limit.max(1),
            questions,
            in_flight: VecDeque::new(),
            outstanding: 0,
            asked: HashSet::new(),
        }
    }

    /// Whether another trial may be planned now. A window with nothing in
    /// flight always is.
    pub fn open(&self) -> bool {
        self.in_flight.is_empty()
            || (self.in_flight.len() < self.limit && self.outstanding < self.questions)
    }

    /// The points of the trials in flight, earliest first.
    pub fn points(&self) -> Vec<Vec<usize>> {
        self.in_flight.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Records examples asked of `combo` outside the trials (a full
    /// evaluation, today's baseline); returns how many were new.
    pub fn ask(&mut self, combo: Combo, examples: &[Turn]) -> usize {
        examples
            .iter()
            .filter(|ex| self.asked.insert((combo, ex.id.0.clone())))
            .count()
    }

    /// Whether `example` was asked of `combo` by a trial or evaluation
    /// planned so far.
    pub fn was_asked(&self, combo: Combo, example: &Turn) -> bool {
        self.asked.contains(&(combo, example.id.0.clone()))
    }

    /// A trial of `point` on `examples` is now in flight.
    pub fn start(&mut self, point: Vec<usize>, examples: &[Turn]) {
        let new = self.ask((point[0], point[1]), examples);
        self.outstanding += new;
        self.in_flight.push_back((point, new));
    }

    /// The earliest trial in flight came in.
    pub fn came_in(&mut self) {
        if let Some((_, new)) = self.in_flight.pop_front() {
            self.outstanding -= new;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(ids: &[&str]) -> Vec<Turn> {
        ids.iter()
            .map(|id| Turn {
                id: crate::traces::TraceId(id.to_string()),
                thread: String::new(),
                workspace: None,
                ts: None,
                persona: None,
                pack: None,
                clean: true,
                inputs: Default::default(),
                outputs: Default::default(),
                feedback: Default::default(),
            })
            .collect()
    }

    #[test]
    fn trials_asking_nothing_new_fill_the_window_and_new_questions_close_it() {
        let mut w = Window::new(3, 4);
        let ex = turns(&["a", "b", "c"]);
        assert_eq!(w.ask((0, 0), &ex), 3, "today's baseline");
        assert!(w.open());
        // Today's program again: nothing new, so the window stays open.
        w.start(vec![0, 0], &ex);
        assert!(w.open());
        // Three new questions, then four more: 7 outstanding >= 4, closed.
        w.start(vec![1, 0], &ex);
        assert!(w.open(), "3 new questions are under the budget of 4");
        w.start(vec![2, 0], &turns(&["a", "d"]));
        assert!(!w.open(), "three trials in flight");
        assert_eq!(w.points(), vec![vec![0, 0], vec![1, 0], vec![2, 0]]);
        w.came_in();
        assert!(!w.open(), "5 questions outstanding");
        w.came_in();
        assert!(w.open(), "2 outstanding");
        w.came_in();
        assert!(w.open());
        assert_eq!(w.points(), Vec::<Vec<usize>>::new());
    }
}

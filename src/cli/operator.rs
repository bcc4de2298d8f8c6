//! The person at the terminal (or the CI log) a writing command reports to: the plan before it
//! is carried out, a confirmation when someone can answer, a line or a progress bar per action.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::pin::Pin;
use std::sync::Mutex;

use super::plan::{PlanFormat, render_plan};
use crate::engine::Operator;
use crate::engine::apply::{ActionOutcome, Progress};
use crate::plan::Plan;
use crate::plan::render::Origins;

/// Reports on stdout and asks on stdin.
pub struct Terminal {
    /// How the plan is shown.
    format: PlanFormat,
    /// Progress bars (a terminal) rather than one line per action.
    bars: bool,
    /// stdin and stdout are terminals: someone can answer.
    tty: bool,
    /// The bars, once the plan's actions start.
    shown: Mutex<Option<Bars>>,
    /// One action's line at a time.
    lines: Mutex<()>,
}

impl Terminal {
    /// A terminal showing plans in `format`; progress bars when `bars` and stdout is a terminal.
    pub fn new(format: PlanFormat, bars: bool) -> Self {
        let stdout = std::io::stdout().is_terminal();
        Terminal {
            format,
            bars: bars && stdout,
            tty: std::io::stdin().is_terminal() && stdout,
            shown: Mutex::new(None),
            lines: Mutex::new(()),
        }
    }
}

impl Progress for Terminal {
    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        if let Some(bars) = self
            .shown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            bars.finished(workspace, outcome);
            return;
        }
        let _guard = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let (mark, detail) = match &outcome.result {
            Ok(d) => ("ok", d),
            Err(e) => ("failed", e),
        };
        println!(
            "{workspace}  {} {}  {mark}  {detail}",
            outcome.verb, outcome.resource
        );
    }
}

impl Operator for Terminal {
    fn review(&self, plan: &Plan, origins: &Origins) {
        print!("{}", render_plan(plan, origins, self.format));
    }

    fn tell(&self, text: &str) {
        println!("{text}");
    }

    fn can_answer(&self) -> bool {
        self.tty
    }

    fn ask<'a>(&'a self, question: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move { self.answer(question).await == "yes" })
    }

    fn answer<'a>(
        &'a self,
        question: &'a str,
    ) -> Pin<Box<dyn Future<Output = String> + Send + 'a>> {
        Box::pin(async move {
            print!("{question}");
            let _ = std::io::stdout().flush();
            read_answer().await.trim().to_string()
        })
    }

    fn starting(&self, plan: &Plan) {
        if self.bars {
            *self.shown.lock().unwrap_or_else(|p| p.into_inner()) = Some(Bars::new(plan));
        }
    }

    fn done(&self) {
        if let Some(bars) = self.shown.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bars.finish();
        }
    }
}

/// One line from stdin (a confirmation), read on its own thread so a signal can interrupt the
/// wait: the thread is left blocked, and ends with the process.
async fn read_answer() -> String {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        let _ = tx.send(answer);
    });
    rx.await.unwrap_or_default()
}

/// On a terminal: a progress bar per workspace; failures are printed above the bars.
struct Bars {
    _multi: indicatif::MultiProgress,
    bars: std::collections::BTreeMap<String, indicatif::ProgressBar>,
}

impl Bars {
    fn new(plan: &Plan) -> Self {
        let multi = indicatif::MultiProgress::new();
        let style =
            indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bars = plan
            .workspaces
            .iter()
            .map(|w| {
                let bar = multi.add(indicatif::ProgressBar::new(w.actions.len() as u64));
                bar.set_style(style.clone());
                bar.set_prefix(w.workspace.clone());
                (w.workspace.clone(), bar)
            })
            .collect();
        Bars {
            _multi: multi,
            bars,
        }
    }

    fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish_with_message("done");
        }
    }

    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        if let Some(bar) = self.bars.get(workspace) {
            bar.inc(1);
            bar.set_message(format!("{} {}", outcome.verb, outcome.resource));
            if let Err(e) = &outcome.result {
                bar.println(format!(
                    "{workspace}  {} {}  failed  {e}",
                    outcome.verb, outcome.resource
                ));
            }
        }
    }
}

//! A spinner on stderr with elapsed time and rows so far, shown once a query runs longer than half a second.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

/// How long a query runs before the spinner appears.
const DELAY: Duration = Duration::from_millis(500);

/// Progress of one running query. Dropping it clears the spinner.
pub struct Progress {
    bar: ProgressBar,
    timer: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts counting; the spinner shows after [`DELAY`] if `visible`.
    pub fn start(visible: bool) -> Progress {
        let bar = ProgressBar::hidden().with_style(style());
        let timer = visible.then(|| tokio::spawn(show_later(bar.clone())));
        Progress { bar, timer }
    }

    pub fn add_rows(&self, rows: usize) {
        self.bar.inc(rows as u64);
    }

    /// Removes the spinner for good, before results are printed to the terminal.
    pub fn stop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn show_later(bar: ProgressBar) {
    tokio::time::sleep(DELAY).await;
    if bar.is_finished() {
        return;
    }
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.enable_steady_tick(Duration::from_millis(100));
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {elapsed} {human_pos} rows  (Ctrl-C cancels)")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

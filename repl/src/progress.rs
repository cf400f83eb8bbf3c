//! A spinner on stderr with elapsed time and rows so far, shown once a query runs longer than half a second.

use std::time::Duration;

use std::io;

use console::Term;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
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
        // Join the ticker thread first so it cannot redraw after the clear.
        self.bar.disable_steady_tick();
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
    bar.set_draw_target(ProgressDrawTarget::term_like(Box::new(Stderr(Term::stderr()))));
    bar.enable_steady_tick(Duration::from_millis(100));
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {elapsed} {human_pos} rows  (Ctrl-C cancels)")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// stderr, narrower than it is. indicatif pads the spinner line to the full
/// width, leaving the cursor in the last column, so the `^C` the terminal
/// echoes would wrap to a new line and the clear would miss the spinner; this
/// keeps room for those two characters.
#[derive(Debug)]
struct Stderr(Term);

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(3).max(1)
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }
    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}

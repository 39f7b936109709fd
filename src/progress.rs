//! Progress bars for `gather_with`, over indicatif (crate feature `progress`,
//! on by default; without it, [`Progress`] exists but draws nothing).

#[cfg(feature = "progress")]
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
#[cfg(feature = "progress")]
use parking_lot::Mutex;

/// Progress reporting for `gather_with`: how a gather shows jobs finishing.
///
/// Like the `tqdm` argument of Python lox's `gather`: `true` or
/// [`Progress::bar()`] draws a default terminal bar, an
/// [`indicatif::ProgressBar`] of your own is advanced as given, and `false`
/// draws nothing.
///
/// ```
/// # #[cfg(feature = "progress")] {
/// let pool = lox::thread(2, |x: u64| x + 1);
/// for i in 0..10 { pool.scatter(i); }
/// let bar = lox::indicatif::ProgressBar::hidden();
/// let out = pool.gather_with(bar.clone());
/// assert_eq!(out.len(), 10);
/// assert_eq!(bar.position(), 10);
/// assert_eq!(bar.length(), Some(10)); // set to the job count: the bar had none
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Progress {
    kind: Kind,
}

#[derive(Debug, Clone, Default)]
enum Kind {
    #[default]
    Off,
    Default,
    #[cfg(feature = "progress")]
    Bar(ProgressBar),
}

impl Progress {
    /// A default terminal bar, sized to the number of jobs being gathered.
    pub fn bar() -> Progress {
        Progress {
            kind: Kind::Default,
        }
    }

    /// No progress reporting (what `false` converts to).
    pub fn none() -> Progress {
        Progress { kind: Kind::Off }
    }

    /// Start reporting for a gather of `len` jobs: returns the bar to advance.
    #[cfg(feature = "progress")]
    pub(crate) fn start(self, len: usize) -> Option<ProgressBar> {
        match self.kind {
            Kind::Off => None,
            Kind::Default => {
                let bar = ProgressBar::new(len as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}, {rate}]",
                    )
                    .expect("lox: the default progress template is valid")
                    .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&human_rate(s.per_sec()));
                    }),
                );
                Some(bar)
            }
            Kind::Bar(bar) => {
                if bar.length().is_none() {
                    bar.set_length(len as u64);
                }
                Some(bar)
            }
        }
    }
}

#[cfg(feature = "progress")]
impl From<ProgressBar> for Progress {
    fn from(bar: ProgressBar) -> Self {
        Progress {
            kind: Kind::Bar(bar),
        }
    }
}

impl From<bool> for Progress {
    /// `true`: a default bar ([`Progress::bar`]); `false`: no bar. (Python lox
    /// 1.0 crashes on `tqdm=False`; here it means what it says.)
    fn from(show: bool) -> Self {
        if show {
            Progress::bar()
        } else {
            Progress::none()
        }
    }
}

/// Run `f` with a callback that advances the bar to the count of finished
/// jobs it is given. The default bar is finished afterwards; a bar of the
/// caller's is advanced by one per job (from wherever it stood, like tqdm's
/// `update(1)`) and left open for its owner.
pub(crate) fn with_bar<T>(
    progress: Progress,
    len: usize,
    f: impl FnOnce(&mut dyn FnMut(usize)) -> T,
) -> T {
    #[cfg(not(feature = "progress"))]
    {
        let _ = (progress, len);
        f(&mut |_| {})
    }
    #[cfg(feature = "progress")]
    {
        let owned = matches!(progress.kind, Kind::Default);
        match progress.start(len) {
            None => f(&mut |_| {}),
            Some(bar) => {
                let drawing = Drawing::start(&bar);
                let mut shown = 0;
                let out = f(&mut |done| {
                    bar.inc((done - shown) as u64);
                    shown = done;
                });
                drop(drawing);
                if owned {
                    finish(&bar, &mut std::io::stderr());
                }
                out
            }
        }
    }
}

/// A bar advanced by one per item, for lazy maps (whose length is known only
/// when the input says so). Finished on drop when it is lox's own.
#[derive(Default)]
pub(crate) struct Ticker {
    #[cfg(feature = "progress")]
    bar: Option<(ProgressBar, bool, Drawing)>,
}

impl Ticker {
    /// Start `progress` for `len` items (`None`: unknown).
    pub(crate) fn new(progress: Progress, len: Option<usize>) -> Ticker {
        #[cfg(not(feature = "progress"))]
        {
            let _ = (progress, len);
            Ticker {}
        }
        #[cfg(feature = "progress")]
        {
            let owned = matches!(progress.kind, Kind::Default);
            let bar = progress.start(len.unwrap_or(0)).map(|bar| {
                if len.is_none() && owned {
                    bar.unset_length();
                }
                let drawing = Drawing::start(&bar);
                (bar, owned, drawing)
            });
            Ticker { bar }
        }
    }

    /// One more item.
    #[inline]
    pub(crate) fn inc(&self) {
        #[cfg(feature = "progress")]
        if let Some((bar, _, _)) = &self.bar {
            bar.inc(1);
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        #[cfg(feature = "progress")]
        if let Some((bar, owned, drawing)) = self.bar.take() {
            drop(drawing);
            if owned {
                finish(&bar, &mut std::io::stderr());
            }
        }
    }
}

/// Finish a bar of lox's own and end its line, so that what is printed next
/// starts on a line of its own (not on the bar's).
#[cfg(feature = "progress")]
fn finish(bar: &ProgressBar, term: &mut dyn std::io::Write) {
    bar.finish();
    if !bar.is_hidden() {
        let _ = writeln!(term);
    }
}

/// A rate a person reads: `28.5k jobs/s`, `950 jobs/s`, `2.40 jobs/s`.
#[cfg_attr(not(feature = "progress"), allow(dead_code))]
pub(crate) fn human_rate(per_sec: f64) -> String {
    let (value, unit) = match per_sec {
        r if !r.is_finite() || r <= 0.0 => return "- jobs/s".to_owned(),
        r if r >= 1e9 => (r / 1e9, "G"),
        r if r >= 1e6 => (r / 1e6, "M"),
        r if r >= 1e3 => (r / 1e3, "k"),
        r => (r, ""),
    };
    let digits = match value {
        v if v >= 100.0 => 0,
        v if v >= 10.0 || !unit.is_empty() => 1,
        _ => 2,
    };
    format!("{value:.digits$}{unit} jobs/s")
}

/// The bars that gathers are drawing now, most recent last: text meant for
/// the terminal (a worker's panic report) is printed above them.
#[cfg(feature = "progress")]
static DRAWING: Mutex<Vec<(u64, ProgressBar)>> = Mutex::new(Vec::new());

/// A bar in [`DRAWING`] (under this number) for as long as this lives.
#[cfg(feature = "progress")]
struct Drawing(u64);

#[cfg(feature = "progress")]
impl Drawing {
    fn start(bar: &ProgressBar) -> Drawing {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        DRAWING.lock().push((id, bar.clone()));
        Drawing(id)
    }
}

#[cfg(feature = "progress")]
impl Drop for Drawing {
    fn drop(&mut self) {
        DRAWING.lock().retain(|(id, _)| *id != self.0);
    }
}

/// Print `text` and a newline on stderr; while a gather draws a bar, above
/// the bar, which is drawn again below it (instead of being torn).
pub(crate) fn eprint_above_bars(text: &str) {
    #[cfg(feature = "progress")]
    {
        let bar = DRAWING.lock().last().map(|(_, bar)| bar.clone());
        if let Some(bar) = bar {
            bar.suspend(|| eprintln!("{text}"));
            return;
        }
    }
    eprintln!("{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_a_person_writes_them() {
        assert_eq!(human_rate(28_530.019_3), "28.5k jobs/s");
        assert_eq!(human_rate(950.4), "950 jobs/s");
        assert_eq!(human_rate(12.345), "12.3 jobs/s");
        assert_eq!(human_rate(2.4), "2.40 jobs/s");
        assert_eq!(human_rate(1_250_000.0), "1.2M jobs/s");
        assert_eq!(human_rate(0.0), "- jobs/s");
        assert_eq!(human_rate(f64::NAN), "- jobs/s");
    }

    #[cfg(feature = "progress")]
    #[test]
    fn a_drawn_bar_ends_its_line_a_hidden_one_prints_nothing() {
        let drawn = ProgressBar::with_draw_target(
            Some(3),
            indicatif::ProgressDrawTarget::term_like(Box::new(Fake)),
        );
        let mut out = Vec::new();
        finish(&drawn, &mut out);
        assert!(drawn.is_finished());
        assert_eq!(out, b"\n");
        let hidden = ProgressBar::hidden();
        let mut out = Vec::new();
        finish(&hidden, &mut out);
        assert!(out.is_empty());
    }

    #[cfg(feature = "progress")]
    #[test]
    fn text_goes_above_a_drawing_bar_and_the_list_empties() {
        let bar = ProgressBar::hidden();
        let id = {
            let drawing = Drawing::start(&bar);
            assert!(DRAWING.lock().iter().any(|(id, _)| *id == drawing.0));
            eprint_above_bars("printed while a bar draws");
            drawing.0
        };
        assert!(!DRAWING.lock().iter().any(|(i, _)| *i == id));
    }

    /// A terminal that swallows everything.
    #[cfg(feature = "progress")]
    #[derive(Debug)]
    struct Fake;

    #[cfg(feature = "progress")]
    impl indicatif::TermLike for Fake {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, _: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn write_str(&self, _: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }
}

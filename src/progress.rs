//! Progress bars for `gather_with`, over indicatif (crate feature `progress`,
//! on by default; without it, [`Progress`] exists but draws nothing).

#[cfg(feature = "progress")]
use indicatif::{ProgressBar, ProgressStyle};

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
        Progress { kind: Kind::Default }
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
                        "{percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}, {per_sec}]",
                    )
                    .expect("lox: the default progress template is valid"),
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
        Progress { kind: Kind::Bar(bar) }
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

/// Run `f` with a callback that moves the bar to the count it is given, and
/// finish the bar afterwards.
pub(crate) fn with_bar<T>(progress: Progress, len: usize, f: impl FnOnce(&mut dyn FnMut(usize)) -> T) -> T {
    #[cfg(not(feature = "progress"))]
    {
        let _ = (progress, len);
        f(&mut |_| {})
    }
    #[cfg(feature = "progress")]
    match progress.start(len) {
        None => f(&mut |_| {}),
        Some(bar) => {
            let out = f(&mut |done| bar.set_position(done as u64));
            bar.finish();
            out
        }
    }
}

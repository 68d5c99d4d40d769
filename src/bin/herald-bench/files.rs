//! The files a run writes beside its report, on request: `--interval-json` (a JSON line per
//! second, see `intervals`), `--hgrm` (the latency distribution as HdrHistogram text, see
//! `latency`) and `--plot` (an SVG, see `plot`). Each is created before the run starts, so
//! a path that cannot be written fails at once, not after minutes of load, and removed
//! again if the run fails before anything is written into it.

use crate::intervals::{Intervals, Names};
use crate::latency::Latency;
use crate::output::Table;
use crate::plot;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

/// Where to write what.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub interval_json: Option<PathBuf>,
    pub hgrm: Option<PathBuf>,
    pub plot: Option<PathBuf>,
}

fn create(path: &PathBuf, flag: &str) -> Result<File, String> {
    File::create(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

impl Outputs {
    /// Create the files, and the second-by-second sink if a file needs it (for `threads`
    /// threads; `from`: the measured interval's start on the run's clock).
    pub fn open(
        &self,
        threads: usize,
        names: Names,
        from: u64,
    ) -> Result<Option<Arc<Intervals>>, String> {
        if let Some(p) = &self.hgrm {
            create(p, "--hgrm")?;
        }
        if let Some(p) = &self.plot {
            create(p, "--plot")?;
        }
        let file = match &self.interval_json {
            Some(p) => Some(create(p, "--interval-json")?),
            None => None,
        };
        if file.is_none() && self.plot.is_none() {
            return Ok(None);
        }
        Ok(Some(Arc::new(Intervals::new(threads, names, from, file))))
    }

    /// After a run that failed before writing them: remove the files `open` created and
    /// nothing filled (an empty .svg is not a picture, an empty .hgrm not a histogram).
    pub fn discard_empty(&self) {
        for p in [&self.interval_json, &self.hgrm, &self.plot]
            .into_iter()
            .flatten()
        {
            if std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    /// After the run: finish the lines, write the distribution and draw the plot; a row in
    /// the table names each file written. `title` heads the plot; `what` names the latency
    /// ("delivery latency", "handshake time").
    pub fn finish(
        &self,
        sink: Option<&Intervals>,
        measured: &Latency,
        title: &str,
        what: &str,
        table: &mut Table,
    ) -> Result<(), String> {
        let points = match sink {
            Some(s) => s
                .finish()
                .map_err(|e| format!("--interval-json: cannot write: {e}"))?,
            None => Vec::new(),
        };
        let mut written = Vec::new();
        if let Some(p) = &self.interval_json {
            written.push(format!("{} ({} lines)", p.display(), points.len()));
        }
        if let Some(p) = &self.hgrm {
            let mut f = create(p, "--hgrm")?;
            measured
                .write_hgrm(&mut f, 1e6)
                .map_err(|e| format!("--hgrm {}: {e}", p.display()))?;
            written.push(format!("{} (HdrHistogram, ms)", p.display()));
        }
        if let Some(p) = &self.plot {
            plot::draw(p, title, what, &points, measured)
                .map_err(|e| format!("--plot {}: {e}", p.display()))?;
            written.push(p.display().to_string());
        }
        if !written.is_empty() {
            table.row("files", written.join(", "));
        }
        Ok(())
    }
}

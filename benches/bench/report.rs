//! The table printed at the end and `target/bench/results.json`.

use serde_json::{Map, Value, json};

/// One figure: what, how much, the target beside it.
pub struct Row {
    pub name: String,
    pub value: String,
    pub target: String,
    pub met: Option<bool>,
}

/// Everything measured in one run.
pub struct Report {
    /// `cargo bench` (full size) rather than the short version under `cargo test`.
    pub full: bool,
    rows: Vec<Row>,
    json: Map<String, Value>,
}

impl Report {
    pub fn new(full: bool) -> Self {
        let mut json = Map::new();
        json.insert("mode".into(), json!(if full { "full" } else { "short" }));
        Self {
            full,
            rows: Vec::new(),
            json,
        }
    }

    /// Records a figure and its target.
    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Records a JSON key (a figure or a parameter of the run).
    pub fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_string(), value);
    }

    pub fn print(&self) {
        let width = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(10);
        println!();
        println!(
            "{:width$}  {:>14}  {:<16}  met",
            "benchmark",
            "value",
            "target",
            width = width
        );
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            println!(
                "{:width$}  {:>14}  {:<16}  {met}",
                r.name,
                r.value,
                r.target,
                width = width
            );
        }
        if !self.full {
            println!(
                "(short version under cargo test: figures prove the benchmark runs, nothing more)"
            );
        }
    }

    /// Writes `target/bench/results.json`.
    pub fn write(&self) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
        std::fs::create_dir_all(&dir).expect("target/bench");
        let path = dir.join("results.json");
        // Keys of sections not run this time (a filtered run) are kept.
        let mut all = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok())
            .unwrap_or_default();
        all.extend(self.json.clone());
        let text = serde_json::to_string_pretty(&Value::Object(all)).expect("json");
        std::fs::write(&path, text + "\n").expect("results.json");
        println!("written: {}", path.display());
    }
}

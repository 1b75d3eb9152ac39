//! Just enough PromQL to know which series an expression reads: metric names, their label
//! matchers, and the label names of `by`/`on`/`group_left` clauses. Anything that is not a
//! function, an aggregation or a keyword is taken for a metric name, so a misspelt metric or
//! function fails the check instead of slipping through.

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub label: String,
    pub op: String,
    pub value: String,
}

#[derive(Debug, Default)]
pub struct Selectors {
    /// Each metric read, with its matchers.
    pub metrics: Vec<(String, Vec<Matcher>)>,
    /// Label names of `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`,
    /// `group_left (...)`, `group_right (...)`.
    pub grouping: Vec<String>,
}

const FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "avg",
    "avg_over_time",
    "bottomk",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "count",
    "count_over_time",
    "count_values",
    "delta",
    "deriv",
    "floor",
    "group",
    "histogram_quantile",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "max",
    "max_over_time",
    "min",
    "min_over_time",
    "predict_linear",
    "present_over_time",
    "quantile",
    "quantile_over_time",
    "rate",
    "resets",
    "round",
    "scalar",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev",
    "stdvar",
    "sum",
    "sum_over_time",
    "time",
    "timestamp",
    "topk",
    "vector",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset"];

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn peek_non_space(&self) -> Option<char> {
        self.chars[self.at..]
            .iter()
            .copied()
            .find(|c| !c.is_whitespace())
    }

    fn skip_space(&mut self) {
        while self.at < self.chars.len() && self.chars[self.at].is_whitespace() {
            self.at += 1;
        }
    }

    fn ident(&mut self) -> String {
        let start = self.at;
        while self.at < self.chars.len() && ident_char(self.chars[self.at]) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    fn string(&mut self) -> String {
        let quote = self.chars[self.at];
        self.at += 1;
        let mut out = String::new();
        while self.at < self.chars.len() && self.chars[self.at] != quote {
            if self.chars[self.at] == '\\' {
                self.at += 1;
            }
            if let Some(c) = self.chars.get(self.at) {
                out.push(*c);
            }
            self.at += 1;
        }
        self.at += 1;
        out
    }

    /// `{label op "value", ...}`, the opening brace already consumed.
    fn matchers(&mut self, expr: &str) -> Vec<Matcher> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.chars.get(self.at) {
                Some('}') => {
                    self.at += 1;
                    return out;
                }
                Some(',') => self.at += 1,
                Some(c) if ident_start(*c) => {
                    let label = self.ident();
                    self.skip_space();
                    let mut op = String::new();
                    while let Some(c) = self.chars.get(self.at).filter(|c| "=!~".contains(**c)) {
                        op.push(*c);
                        self.at += 1;
                    }
                    self.skip_space();
                    assert!(
                        matches!(self.chars.get(self.at), Some('"' | '\'' | '`')),
                        "a matcher without a quoted value in {expr}"
                    );
                    let value = self.string();
                    out.push(Matcher { label, op, value });
                }
                other => panic!("unexpected {other:?} in the matchers of {expr}"),
            }
        }
    }

    /// `(a, b)` after a grouping keyword.
    fn label_list(&mut self, expr: &str) -> Vec<String> {
        self.skip_space();
        if self.chars.get(self.at) != Some(&'(') {
            return Vec::new(); // `group_left` may stand alone
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.chars.get(self.at) {
                Some(')') => {
                    self.at += 1;
                    return out;
                }
                Some(',') => self.at += 1,
                Some(c) if ident_start(*c) => out.push(self.ident()),
                other => panic!("unexpected {other:?} in a label list of {expr}"),
            }
        }
    }
}

/// The series `expr` reads. Grafana's variables must be substituted first.
pub fn selectors(expr: &str) -> Selectors {
    let mut lx = Lexer {
        chars: expr.chars().collect(),
        at: 0,
    };
    let mut out = Selectors::default();
    while lx.at < lx.chars.len() {
        let c = lx.chars[lx.at];
        if c == '"' || c == '\'' || c == '`' {
            lx.string();
        } else if c == '[' {
            // A range or subquery duration.
            while lx.at < lx.chars.len() && lx.chars[lx.at] != ']' {
                lx.at += 1;
            }
            lx.at += 1;
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (`5m`, `1e3`).
            while lx.at < lx.chars.len()
                && (lx.chars[lx.at].is_ascii_alphanumeric() || lx.chars[lx.at] == '.')
            {
                lx.at += 1;
            }
        } else if c == '{' {
            lx.at += 1;
            // A selector without a metric name: `{__name__="..."}` is not used here.
            let m = lx.matchers(expr);
            panic!("a selector without a metric name ({m:?}) in {expr}");
        } else if ident_start(c) {
            let word = lx.ident();
            if GROUPING.contains(&word.as_str()) {
                out.grouping.extend(lx.label_list(expr));
            } else if KEYWORDS.contains(&word.as_str()) {
            } else if FUNCTIONS.contains(&word.as_str()) {
                assert!(
                    matches!(lx.peek_non_space(), Some('(') | Some('b') | Some('w')),
                    "{word} used as a metric name in {expr}"
                );
            } else {
                lx.skip_space();
                let m = if lx.chars.get(lx.at) == Some(&'{') {
                    lx.at += 1;
                    lx.matchers(expr)
                } else {
                    Vec::new()
                };
                out.metrics.push((word, m));
            }
        } else {
            lx.at += 1;
        }
    }
    out
}

#[test]
fn reads_metrics_matchers_and_grouping_labels() {
    let s = selectors(
        r#"sum by (namespace, route) (rate(hookgate_x_total{route=~"a|b", result!="ok"}[5m])) / on (pod) group_left (version) hookgate_build_info > 0.2 and up == 0"#,
    );
    let names: Vec<_> = s.metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["hookgate_x_total", "hookgate_build_info", "up"]);
    assert_eq!(
        s.metrics[0].1[1],
        Matcher {
            label: "result".into(),
            op: "!=".into(),
            value: "ok".into()
        }
    );
    assert_eq!(s.grouping, ["namespace", "route", "pod", "version"]);
}

#[test]
fn a_misspelt_function_reads_as_a_metric() {
    let s = selectors("sum(rte(hookgate_x_total[5m]))");
    assert_eq!(s.metrics[0].0, "rte");
}

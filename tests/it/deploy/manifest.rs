//! Reading rendered manifests: paths into YAML values, selectors, and the workloads that run
//! hookgate with the config their ConfigMap ships.

use std::collections::BTreeMap;

use serde_yaml::Value;

/// The value at a dotted path (`spec.template.spec`), or Null.
pub(super) fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    path.split('.')
        .try_fold(v, |v, k| v.get(k))
        .unwrap_or(&NULL)
}

pub(super) fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

pub(super) fn seq(v: &Value) -> &[Value] {
    v.as_sequence().map(|s| s.as_slice()).unwrap_or(&[])
}

pub(super) fn kind(d: &Value) -> &str {
    str_at(d, "kind")
}

pub(super) fn name(d: &Value) -> &str {
    str_at(d, "metadata.name")
}

pub(super) fn find<'a>(docs: &'a [Value], k: &str, n: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind(d) == k && name(d) == n)
        .unwrap_or_else(|| panic!("no {k}/{n} rendered"))
}

pub(super) fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Does a `matchLabels` map select a pod with these labels?
pub(super) fn selects(selector: &BTreeMap<String, String>, pod: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| pod.get(k) == Some(v))
}

/// "10s", "500ms", "2m" in seconds.
pub(super) fn seconds(d: &str) -> f64 {
    humantime::parse_duration(d)
        .unwrap_or_else(|e| panic!("duration {d}: {e}"))
        .as_secs_f64()
}

/// "256Mi", "1Gi" in MiB.
pub(super) fn mebibytes(q: &str) -> u64 {
    let (n, unit) = q.split_at(q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len()));
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("quantity {q}"));
    match unit {
        "Mi" => n,
        "Gi" => n * 1024,
        _ => panic!("memory quantity {q}: write it in Mi or Gi"),
    }
}

/// One rendered workload that runs hookgate: its pod template, the hookgate container, and the
/// hookgate.toml of the ConfigMap it mounts.
pub(super) struct Workload<'a> {
    pub overlay: &'static str,
    pub doc: &'a Value,
    pub pod: &'a Value,
    pub hookgate: &'a Value,
    pub config: toml::Table,
}

pub(super) fn workloads<'a>(overlay: &'static str, docs: &'a [Value]) -> Vec<Workload<'a>> {
    let mut out = Vec::new();
    for doc in docs
        .iter()
        .filter(|d| matches!(kind(d), "Deployment" | "StatefulSet"))
    {
        let pod = at(doc, "spec.template.spec");
        let all = seq(at(pod, "containers"))
            .iter()
            .chain(seq(at(pod, "initContainers")));
        let Some(hookgate) = all.into_iter().find(|c| str_at(c, "name") == "hookgate") else {
            continue;
        };
        // The ConfigMap behind the directory that holds --config's file.
        let args: Vec<&str> = seq(at(hookgate, "args"))
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        let config_path = args
            .iter()
            .position(|a| *a == "--config")
            .and_then(|i| args.get(i + 1))
            .unwrap_or_else(|| panic!("{overlay}: hookgate runs without --config"));
        let mount = seq(at(hookgate, "volumeMounts"))
            .iter()
            .find(|m| config_path.starts_with(&format!("{}/", str_at(m, "mountPath"))))
            .unwrap_or_else(|| panic!("{overlay}: nothing mounted at {config_path}"));
        let volume = seq(at(pod, "volumes"))
            .iter()
            .find(|v| str_at(v, "name") == str_at(mount, "name"))
            .expect("the mount's volume");
        let cm = find(docs, "ConfigMap", str_at(volume, "configMap.name"));
        let key = config_path.rsplit('/').next().unwrap_or_default();
        let config = at(cm, "data")
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .parse::<toml::Table>()
            .unwrap_or_else(|e| panic!("{overlay}: {key} is not TOML: {e}"));
        out.push(Workload {
            overlay,
            doc,
            pod,
            hookgate,
            config,
        });
    }
    assert!(!out.is_empty(), "{overlay}: no workload runs hookgate");
    out
}

pub(super) fn toml_str<'a>(t: &'a toml::Table, path: &str) -> Option<&'a str> {
    let mut v: Option<&toml::Value> = None;
    for k in path.split('.') {
        v = match v {
            None => t.get(k),
            Some(v) => v.get(k),
        };
    }
    v.and_then(|v| v.as_str())
}

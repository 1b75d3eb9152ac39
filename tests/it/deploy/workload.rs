//! What every workload must hold: hardened, probed, sized, reloadable, deduplicating as said.

use serde_yaml::Value;

use super::manifest::{
    Workload, at, kind, labels, mebibytes, name, seconds, seq, str_at, toml_str,
};

pub(super) fn check_workload(w: &Workload, docs: &[Value]) {
    let o = w.overlay;
    let pod = w.pod;
    // Numeric non-root user for the pod and each container (the kubelet can check a number).
    let psc = at(pod, "securityContext");
    assert_eq!(at(psc, "runAsNonRoot").as_bool(), Some(true), "{o}");
    assert!(at(psc, "runAsUser").as_u64().is_some_and(|u| u > 0), "{o}");
    assert_eq!(str_at(psc, "seccompProfile.type"), "RuntimeDefault", "{o}");
    assert_eq!(
        at(pod, "automountServiceAccountToken").as_bool(),
        Some(false),
        "{o}"
    );
    let containers: Vec<&Value> = seq(at(pod, "containers"))
        .iter()
        .chain(seq(at(pod, "initContainers")))
        .collect();
    for c in &containers {
        let n = str_at(c, "name");
        let sc = at(c, "securityContext");
        assert_eq!(at(sc, "runAsNonRoot").as_bool(), Some(true), "{o}/{n}");
        assert!(
            at(sc, "runAsUser").as_u64().is_some_and(|u| u > 0),
            "{o}/{n}"
        );
        assert_eq!(
            at(sc, "readOnlyRootFilesystem").as_bool(),
            Some(true),
            "{o}/{n}"
        );
        assert_eq!(
            at(sc, "allowPrivilegeEscalation").as_bool(),
            Some(false),
            "{o}/{n}"
        );
        let dropped: Vec<&str> = seq(at(sc, "capabilities.drop"))
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(dropped, ["ALL"], "{o}/{n}");
        assert!(at(sc, "capabilities.add").is_null(), "{o}/{n}");
        assert_eq!(
            str_at(sc, "seccompProfile.type"),
            "RuntimeDefault",
            "{o}/{n}"
        );
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert!(at(c, probe).is_mapping(), "{o}/{n}: no {probe}");
        }
        assert!(
            at(c, "resources.requests.cpu").as_str().is_some(),
            "{o}/{n}"
        );
        let request = mebibytes(str_at(c, "resources.requests.memory"));
        let limit = mebibytes(str_at(c, "resources.limits.memory"));
        assert!(
            request > 0 && limit >= request,
            "{o}/{n}: memory {request}/{limit}"
        );
        let image = str_at(c, "image");
        assert!(
            image.contains(':') && !image.ends_with(":latest"),
            "{o}/{n}: image {image} has no fixed tag"
        );
        assert!(
            at(c, "lifecycle.preStop").is_mapping(),
            "{o}/{n}: no preStop"
        );
        // subPath mounts are never updated: hot reload and rotation would silently stop.
        for m in seq(at(c, "volumeMounts")) {
            assert!(at(m, "subPath").is_null(), "{o}/{n}: subPath mount");
        }
    }

    // hookgate's probes: alive = /healthz, ready = /readyz, on the admin port.
    let h = w.hookgate;
    let admin_listen = toml_str(&w.config, "server.admin_listen").expect("admin_listen");
    let admin_port: u64 = admin_listen.rsplit(':').next().unwrap().parse().unwrap();
    let port_named = |name: &str| {
        seq(at(h, "ports"))
            .iter()
            .find(|p| str_at(p, "name") == name)
            .and_then(|p| at(p, "containerPort").as_u64())
    };
    assert_eq!(port_named("admin"), Some(admin_port), "{o}");
    let listen = toml_str(&w.config, "server.listen").expect("listen");
    assert_eq!(
        port_named("http").map(|p| p.to_string()).as_deref(),
        listen.rsplit(':').next(),
        "{o}"
    );
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        assert_eq!(
            str_at(h, &format!("{probe}.httpGet.path")),
            path,
            "{o} {probe}"
        );
        assert_eq!(
            str_at(h, &format!("{probe}.httpGet.port")),
            "admin",
            "{o} {probe}"
        );
    }
    // Scraping works with the token set: /metrics is open (checked live below), and the
    // annotations name the admin port.
    let annotations = labels(at(w.doc, "spec.template.metadata.annotations"));
    assert_eq!(
        annotations.get("prometheus.io/scrape").map(String::as_str),
        Some("true"),
        "{o}"
    );
    assert_eq!(
        annotations.get("prometheus.io/port"),
        Some(&admin_port.to_string()),
        "{o}"
    );
    let pod_labels = labels(at(w.doc, "spec.template.metadata.labels"));
    assert_eq!(
        pod_labels.get("hookgate/gateway").map(String::as_str),
        Some("true"),
        "{o}"
    );

    // The grace period covers every preStop pause (the app's, then hookgate's, in a sidecar pod)
    // and shutdown_timeout.
    let grace = at(pod, "terminationGracePeriodSeconds")
        .as_f64()
        .expect("grace");
    let pauses: f64 = containers
        .iter()
        .map(|c| {
            at(c, "lifecycle.preStop.sleep.seconds")
                .as_f64()
                .unwrap_or(0.0)
        })
        .sum();
    let shutdown = seconds(toml_str(&w.config, "server.shutdown_timeout").expect("shutdown"));
    assert!(
        grace > pauses + shutdown,
        "{o}: grace {grace}s <= preStop {pauses}s + shutdown_timeout {shutdown}s"
    );

    // Secrets are files under a mounted Secret directory (rotated without a restart), the
    // admin listener beyond loopback has a token, and the embedded store is on a volume.
    let mounts: Vec<(&str, &Value)> = seq(at(h, "volumeMounts"))
        .iter()
        .map(|m| {
            // A pod volume, or a StatefulSet's claim.
            let v = seq(at(pod, "volumes"))
                .iter()
                .find(|v| str_at(v, "name") == str_at(m, "name"))
                .or_else(|| {
                    seq(at(w.doc, "spec.volumeClaimTemplates"))
                        .iter()
                        .find(|v| str_at(v, "metadata.name") == str_at(m, "name"))
                })
                .unwrap_or_else(|| panic!("{o}: no volume {}", str_at(m, "name")));
            (str_at(m, "mountPath"), v)
        })
        .collect();
    let secret_dirs: Vec<&str> = mounts
        .iter()
        .filter(|(_, v)| at(v, "secret").is_mapping())
        .map(|(p, _)| *p)
        .collect();
    let raw = toml::to_string(&w.config).unwrap();
    let files: Vec<&str> = raw
        .split('"')
        .filter_map(|s| s.strip_prefix("file:"))
        .collect();
    assert!(!files.is_empty(), "{o}: no file: secrets");
    for f in files {
        assert!(
            secret_dirs.iter().any(|d| f.starts_with(&format!("{d}/"))),
            "{o}: {f} is not under a mounted Secret ({secret_dirs:?})"
        );
    }
    // An `env:` value cannot change without a restart: only the consumer name may be one.
    for e in raw.split('"').filter_map(|s| s.strip_prefix("env:")) {
        assert_eq!(e, "POD_NAME", "{o}: an env: secret cannot be rotated");
    }
    assert!(
        !admin_listen.starts_with("127."),
        "{o}: probes need the pod IP"
    );
    assert!(
        toml_str(&w.config, "server.admin_token").is_some_and(|t| t.starts_with("file:")),
        "{o}: admin_listen beyond loopback without a file: token"
    );
    // What the store writes (the embedded store; Redis' local spill, written while Redis is
    // away) is a volume, not the read-only root.
    let (key, peak) = if toml_str(&w.config, "store.kind") == Some("redis") {
        ("store.spill_path", 48)
    } else {
        ("store.path", 195)
    };
    let path = toml_str(&w.config, key).unwrap_or_else(|| panic!("{o}: no {key}"));
    assert!(
        mounts
            .iter()
            .any(|(p, v)| *p == path && at(v, "configMap").is_null() && at(v, "secret").is_null()),
        "{o}: {key} {path} is not a volume (read-only root)"
    );
    let measured_peak_mib = peak;
    let limit = mebibytes(str_at(h, "resources.limits.memory"));
    assert!(
        limit >= 2 * measured_peak_mib,
        "{o}: memory limit {limit}Mi below twice the measured peak {measured_peak_mib}Mi"
    );

    // The ConfigMap keeps its name: an update reaches the mounted file (hot reload) instead of
    // rolling the pods under a new name.
    let cm_volume = mounts
        .iter()
        .find_map(|(_, v)| at(v, "configMap.name").as_str())
        .expect("a ConfigMap volume");
    assert!(
        docs.iter()
            .any(|d| kind(d) == "ConfigMap" && name(d) == cm_volume)
    );
}

/// The annotation by which a workload that runs the embedded store at more than one replica
/// says that deduplication is per pod, and that this is what it wants (its app drops duplicates
/// by event ID itself).
pub(super) const PER_POD_DEDUP: &str = "hookgate/dedup-per-pod";

/// Why a workload's shape breaks deduplication, if it does. The embedded store is one process's
/// queue: at two or more replicas (or under an HPA that may make them), a sender's retry that
/// lands on another pod than its first attempt is accepted again and delivered twice.
pub(super) fn per_pod_dedup_problem(w: &Workload, docs: &[Value]) -> Option<String> {
    if toml_str(&w.config, "store.kind").is_some_and(|k| k != "embedded") {
        return None;
    }
    let replicas = at(w.doc, "spec.replicas").as_u64().unwrap_or(1);
    let autoscaled = docs
        .iter()
        .filter(|d| {
            kind(d) == "HorizontalPodAutoscaler"
                && str_at(d, "spec.scaleTargetRef.kind") == kind(w.doc)
                && str_at(d, "spec.scaleTargetRef.name") == name(w.doc)
        })
        .filter_map(|d| at(d, "spec.maxReplicas").as_u64())
        .max()
        .unwrap_or(0);
    let most = replicas.max(autoscaled);
    let said = labels(at(w.doc, "metadata.annotations"))
        .get(PER_POD_DEDUP)
        .is_some_and(|v| v == "accepted");
    (most > 1 && !said).then(|| {
        format!(
            "{}: {} {} runs the embedded store at up to {most} replicas, each deduplicating on \
             its own (a retry landing on another pod is delivered twice): use the Redis store \
             or one replica, or annotate it {PER_POD_DEDUP}: \"accepted\" where the app drops \
             duplicates itself",
            w.overlay,
            kind(w.doc),
            name(w.doc)
        )
    })
}

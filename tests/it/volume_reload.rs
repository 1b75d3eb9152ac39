//! Kubernetes volumes, end to end: a ConfigMap or a Secret mounted as the kubelet mounts them
//! (`common::kubelet`) and updated only by swapping its `..data` link, reached directly or
//! through a symlink from another directory (an image's /etc/hookgate/hookgate.toml pointing
//! into the mount). Every swap is seen, the second as the first, without SIGHUP.

use crate::common;

use std::os::unix::fs::symlink;

use common::conn::limai_body;
use common::kubelet::KubeletVolume;
use common::ops::*;
use common::*;

/// The gateway's config as a ConfigMap volume's `hookgate.toml`: the gateway's directory is
/// the volume, or (`elsewhere`) the volume is in that other directory and the gateway's
/// `hookgate.toml` a symlink to the volume's. Returns the volume and the file's text.
fn configmap_gateway(
    up: &Upstream,
    elsewhere: Option<&std::path::Path>,
) -> (Gateway, KubeletVolume, String) {
    let mut gw = Gateway::prepare(
        &[],
        "",
        None,
        "",
        &limai_body(up),
        &[("LIMAI_SECRET", SECRET)],
    );
    let text = std::fs::read_to_string(gw.config_path()).unwrap();
    std::fs::remove_file(gw.config_path()).unwrap();
    let files = [("hookgate.toml", text.as_str())];
    let volume = match elsewhere {
        None => KubeletVolume::new(gw.dir.path().to_path_buf(), &files),
        Some(mount) => {
            let v = KubeletVolume::new(mount.join("hookgate"), &files);
            symlink(v.dir.join("hookgate.toml"), gw.config_path()).unwrap();
            v
        }
    };
    gw.spawn();
    // As served: a start that had to move to other ports rewrote them.
    let text = std::fs::read_to_string(gw.config_path()).unwrap();
    (gw, volume, text)
}

async fn route_status(c: &reqwest::Client, gw: &Gateway, path: &str, id: &str) -> u16 {
    send_signed(c, &gw.url(path), &event_body(id)).await.0
}

/// After `swap`: the route serves at `to` (waited for), no longer at `from`.
async fn moved(c: &reqwest::Client, gw: &Gateway, (from, to): (&str, &str), swap: &str) {
    eventually(WAIT, async || {
        (route_status(c, gw, to, &format!("{swap}_to")).await == 200).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("{swap} swap not picked up:\n{}", gw.logs()));
    assert_eq!(
        route_status(c, gw, from, &format!("{swap}_from")).await,
        404
    );
}

/// Three ConfigMap updates: the route moves; a broken file is refused and the route stays;
/// the route moves again.
async fn follows_swaps(gw: &Gateway, volume: &mut KubeletVolume, text: &str) {
    let c = client();
    let at = |path: &str| text.replace("path = \"/hooks/limai\"", &format!("path = \"{path}\""));
    assert_eq!(route_status(&c, gw, "/hooks/limai", "e1").await, 200);

    volume.write(&[("hookgate.toml", &at("/hooks/v2"))]);
    moved(&c, gw, ("/hooks/limai", "/hooks/v2"), "first").await;

    volume.write(&[("hookgate.toml", &format!("{}\n[bogus]\n", at("/hooks/v3")))]);
    eventually(WAIT, async || {
        let (_, h) = health(&c, gw).await;
        (h["last_reload_failed"] == true).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("broken swap not picked up:\n{}", gw.logs()));
    let kept = route_status(&c, gw, "/hooks/v2", "e4").await;
    assert_eq!(kept, 200, "old config kept");

    volume.write(&[("hookgate.toml", &at("/hooks/v3"))]);
    moved(&c, gw, ("/hooks/v2", "/hooks/v3"), "third").await;
    let (_, h) = health(&c, gw).await;
    assert_eq!(h["last_reload_failed"], false, "{h}");
}

/// `--config` names the volume's own `hookgate.toml` (`-> ..data/hookgate.toml`).
#[tokio::test]
async fn a_config_in_a_configmap_volume_reloads_at_each_swap() {
    let up = Upstream::start();
    let (gw, mut volume, text) = configmap_gateway(&up, None);
    follows_swaps(&gw, &mut volume, &text).await;
}

/// `--config` names a symlink in another directory to the volume's `hookgate.toml`: the chain
/// crosses into the volume's directory, whose `..data` swap is the only change there is.
#[tokio::test]
async fn a_config_linked_into_a_configmap_volume_elsewhere_reloads_at_each_swap() {
    let up = Upstream::start();
    let mount = tempfile::tempdir().unwrap();
    let (gw, mut volume, text) = configmap_gateway(&up, Some(mount.path()));
    follows_swaps(&gw, &mut volume, &text).await;
}

/// A `file:` secret named by a symlink in another directory to a Secret volume's file:
/// rotated twice.
#[tokio::test]
async fn a_secret_linked_into_a_secret_volume_elsewhere_rotates_at_each_swap() {
    const THIRD: &str = "rot-third-90d1e4";
    let up = Upstream::start();
    let mount = tempfile::tempdir().unwrap();
    let mut volume = KubeletVolume::new(mount.path().join("limai"), &[("limai-secret", OLD)]);
    let etc = tempfile::tempdir().unwrap();
    let link = etc.path().join("limai-secret");
    symlink(volume.dir.join("limai-secret"), &link).unwrap();
    let gw = Gateway::start("", &file_secret_routes(&up, &link), &[]);
    let c = client();
    assert_eq!(status_with(&c, &gw, OLD, "evt_1").await, 200);
    let (_, before) = health(&c, &gw).await;

    volume.write(&[("limai-secret", NEW)]);
    rotated(&c, &gw, &before).await;

    volume.write(&[("limai-secret", THIRD)]);
    eventually(WAIT, async || {
        (status_with(&c, &gw, THIRD, "evt_third").await == 200).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("second rotation not picked up:\n{}", gw.logs()));
    assert_eq!(status_with(&c, &gw, NEW, "evt_new_after").await, 401);
    assert!(!gw.logs().contains(THIRD), "a secret was logged");
}

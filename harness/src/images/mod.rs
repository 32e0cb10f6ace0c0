//! Offline image building (SPEC section 2). The base image is a `debootstrap` of the host's own
//! Debian mirror, `docker import`ed (a local image or a registry pull only when asked for);
//! role images are built FROM it with the legacy builder and reused until their recipe changes.
//! A recipe's identity covers its Dockerfile, the base and the package versions the host's apt
//! would install, so a new patch level on the host means a rebuild.

pub mod sources;

use crate::host::{self, HostSetup, SetupError};
use crate::role::Role;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use testcontainers::bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, CreateImageOptions,
};
use testcontainers::bollard::{body_full, Docker};

/// The packages whose versions are part of each role's identity and of every report.
const ROLE_PACKAGES: [(Role, &[&str]); 3] = [
    (Role::Router, &["iptables"]),
    (Role::Proxy, &["apache2"]),
    (Role::Bridge, &["nginx", "coturn", "prosody"]),
];
pub const LABEL: &str = "org.jitsi-conformance.image";

#[derive(Debug, Clone)]
pub struct Images {
    pub base: String,
    pub roles: HashMap<Role, String>,
    pub built: usize,
}

impl Images {
    pub fn role(&self, role: Role) -> &str {
        &self.roles[&role]
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    pub rebuild: bool,
    pub setup: HostSetup,
}

fn short_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(&h.finalize()[..6])
}

fn progress(what: &str, msg: &str) {
    eprintln!("images: {what}: {msg}");
}

async fn exists(docker: &Docker, tag: &str) -> Option<String> {
    docker.inspect_image(tag).await.ok().and_then(|i| i.id)
}

/// Builds what is missing and returns the tags to run.
pub async fn ensure(
    docker: &Docker,
    fixtures: &Path,
    opts: BuildOptions,
) -> Result<Images, SetupError> {
    let (base, mut built) = ensure_base(docker, opts).await?;
    let base_id = exists(docker, &base).await.unwrap_or_default();
    let versions = host_candidates();
    let mut jobs = Vec::new();
    for role in Role::ALL {
        let dir = fixtures.join("images").join(role.name());
        let dockerfile = std::fs::read(dir.join("Dockerfile")).map_err(|e| {
            SetupError::new(
                "images",
                format!("{}: {e}", dir.join("Dockerfile").display()),
            )
        })?;
        let pkgs = ROLE_PACKAGES
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, p)| *p)
            .unwrap_or(&[]);
        let pinned: String = pkgs
            .iter()
            .map(|p| {
                format!(
                    "{p}={}\n",
                    versions.get(*p).map(String::as_str).unwrap_or("?")
                )
            })
            .collect();
        let tag = format!(
            "jc-{role}:{}",
            short_hash(&[base_id.as_bytes(), &dockerfile, pinned.as_bytes()])
        );
        jobs.push((role, tag, dockerfile));
    }
    let base_ref = &base;
    let builds = jobs.iter().map(|(role, tag, dockerfile)| async move {
        if !opts.rebuild && exists(docker, tag).await.is_some() {
            return Ok::<_, SetupError>(false);
        }
        build_role(docker, role.name(), tag, dockerfile, base_ref).await?;
        Ok(true)
    });
    for r in futures_util::future::join_all(builds).await {
        built += usize::from(r?);
    }
    Ok(Images {
        base,
        roles: jobs.into_iter().map(|(r, t, _)| (r, t)).collect(),
        built,
    })
}

/// What the host's apt would install for the role packages (empty when apt knows nothing).
/// `apt-cache policy` takes about a second, so its answer is kept in the temp directory under
/// a key made of the package lists it reads (names, sizes, mtimes): an `apt-get update` that
/// changes them asks apt again.
fn host_candidates() -> HashMap<String, String> {
    let pkgs: Vec<&str> = ROLE_PACKAGES
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let mut key: Vec<String> = pkgs.iter().map(|p| p.to_string()).collect();
    for dir in ["/var/lib/apt/lists", "/etc/apt/preferences.d"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                if let Ok(m) = e.metadata() {
                    let mtime = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_nanos())
                        .unwrap_or(0);
                    key.push(format!("{:?} {} {mtime}", e.file_name(), m.len()));
                }
            }
        }
    }
    key.sort();
    let cache = std::env::temp_dir().join(format!(
        "jc-apt-candidates-{}",
        short_hash(&[key.join("\n").as_bytes()])
    ));
    let text = match std::fs::read_to_string(&cache) {
        Ok(t) => t,
        Err(_) => {
            let Ok(out) = Command::new("apt-cache").arg("policy").args(&pkgs).output() else {
                return HashMap::new();
            };
            let t = String::from_utf8_lossy(&out.stdout).into_owned();
            if out.status.success() {
                let _ = std::fs::write(&cache, &t);
            }
            t
        }
    };
    let mut map = HashMap::new();
    let mut current = None;
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            current = Some(line.trim_end_matches(':').to_string());
        } else if let (Some(p), Some(v)) = (&current, line.trim().strip_prefix("Candidate: ")) {
            map.insert(p.clone(), v.to_string());
        }
    }
    map
}

async fn ensure_base(docker: &Docker, opts: BuildOptions) -> Result<(String, usize), SetupError> {
    if let Ok(local) = std::env::var("JC_BASE_IMAGE") {
        return match exists(docker, &local).await {
            Some(_) => Ok((local, 0)),
            None => Err(SetupError::new(
                "images",
                format!("JC_BASE_IMAGE={local} is not a local image (see `docker images`)"),
            )),
        };
    }
    if std::env::var("JC_PULL_BASE").is_ok_and(|v| v == "1") {
        let tag = "debian:bookworm-slim".to_string();
        if exists(docker, &tag).await.is_none() {
            progress("base", "pulling debian:bookworm-slim (JC_PULL_BASE=1)");
            let opts = CreateImageOptions {
                from_image: Some(tag.clone()),
                ..Default::default()
            };
            let mut s = docker.create_image(Some(opts), None, None);
            while let Some(r) = s.next().await {
                r.map_err(|e| SetupError::new("images", format!("pull failed: {e}")))?;
            }
            return Ok((tag, 1));
        }
        return Ok((tag, 0));
    }
    let root = Path::new("/");
    let codename = sources::codename(root).unwrap_or_else(|| "bookworm".into());
    let all = sources::read_host(root);
    let debian = sources::debian_suites(&all, &codename);
    let mirror = debian
        .iter()
        .find(|s| s.suite == codename)
        .map(|s| s.uri.clone())
        .ok_or_else(|| SetupError::new("images", format!("no `{codename}` suite in the host's apt sources (/etc/apt/sources.list, sources.list.d/*.list|*.sources); the base image is bootstrapped from the host's own mirror. Set JC_BASE_IMAGE to a local Debian image, or JC_PULL_BASE=1 to pull one")))?;
    let sources_file = sources::to_deb822(&debian);
    let tag = format!(
        "jc-base:{codename}-{}",
        short_hash(&[
            b"debootstrap-minbase-v1",
            codename.as_bytes(),
            mirror.as_bytes(),
            sources_file.as_bytes()
        ])
    );
    if exists(docker, &tag).await.is_some() && !opts.rebuild {
        return Ok((tag, 0));
    }
    host::ensure_debootstrap(opts.setup)?;
    let started = Instant::now();
    let dir = tempfile_dir()?;
    let rootfs = dir.join("rootfs");
    progress(
        "base",
        &format!("debootstrap --variant=minbase {codename} from {mirror}"),
    );
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", "--include=ca-certificates", &codename])
        .arg(&rootfs)
        .arg(&mirror)
        .output()
        .map_err(|e| SetupError::new("images", format!("cannot run debootstrap: {e}")))?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        let tail: String = String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(SetupError::new(
            "images",
            format!(
                "debootstrap {codename} {mirror} failed:\n{tail}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    // The host's suites, so role images install the host's patch level; no caches shipped.
    let apt = rootfs.join("etc/apt");
    let _ = std::fs::remove_file(apt.join("sources.list"));
    let write = std::fs::create_dir_all(apt.join("sources.list.d"))
        .and_then(|_| std::fs::write(apt.join("sources.list.d/debian.sources"), &sources_file));
    write.map_err(|e| {
        SetupError::new(
            "images",
            format!("cannot write the base image's apt sources: {e}"),
        )
    })?;
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rm -rf {0}/var/cache/apt/archives/*.deb {0}/var/lib/apt/lists/*",
            rootfs.display()
        ))
        .status();
    progress(
        "base",
        &format!(
            "debootstrap done in {:.1} s; importing",
            started.elapsed().as_secs_f64()
        ),
    );
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "-c", "."])
        .output()
        .map_err(|e| SetupError::new("images", format!("cannot tar the rootfs: {e}")))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !tar.status.success() {
        return Err(SetupError::new(
            "images",
            format!(
                "tar of the rootfs failed: {}",
                String::from_utf8_lossy(&tar.stderr)
            ),
        ));
    }
    let (repo, t) = tag.split_once(':').expect("tag has a colon");
    let opts = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(t.into()),
        changes: vec![format!("LABEL {LABEL}=base"), "CMD [\"/bin/bash\"]".into()],
        ..Default::default()
    };
    let mut s = docker.create_image(Some(opts), Some(body_full(tar.stdout.into())), None);
    while let Some(r) = s.next().await {
        r.map_err(|e| SetupError::new("images", format!("docker import failed: {e}")))?;
    }
    progress(
        "base",
        &format!("{tag} ready in {:.1} s", started.elapsed().as_secs_f64()),
    );
    Ok((tag, 1))
}

fn tempfile_dir() -> Result<std::path::PathBuf, SetupError> {
    let dir = std::env::temp_dir().join(format!(
        "jc-base-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)
        .map_err(|e| SetupError::new("images", format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

async fn build_role(
    docker: &Docker,
    role: &str,
    tag: &str,
    dockerfile: &[u8],
    base: &str,
) -> Result<(), SetupError> {
    let started = Instant::now();
    progress(role, &format!("building {tag} FROM {base}"));
    let mut ctx = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    ctx.append_data(&mut header, "Dockerfile", dockerfile)
        .map_err(|e| SetupError::new("images", e.to_string()))?;
    let ctx = ctx
        .into_inner()
        .map_err(|e| SetupError::new("images", e.to_string()))?;
    let opts = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(tag.into()),
        rm: true,
        forcerm: true,
        // The build reaches the host's mirror the way the host does.
        networkmode: Some("host".into()),
        buildargs: Some(HashMap::from([("BASE".to_string(), base.to_string())])),
        labels: Some(HashMap::from([(LABEL.to_string(), role.to_string())])),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    let mut s = docker.build_image(opts, None, Some(body_full(ctx.into())));
    let mut tail: Vec<String> = Vec::new();
    while let Some(r) = s.next().await {
        let info = r.map_err(|e| {
            SetupError::new(
                "images",
                format!("{role}: docker build failed: {e}\n{}", tail.join("")),
            )
        })?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(SetupError::new(
                "images",
                format!("{role}: docker build failed: {err}\n{}", tail.join("")),
            ));
        }
        if let Some(line) = info.stream {
            if line.starts_with("Step ") {
                progress(role, line.trim_end());
            }
            tail.push(line);
            if tail.len() > 20 {
                tail.remove(0);
            }
        }
    }
    progress(
        role,
        &format!("{tag} built in {:.1} s", started.elapsed().as_secs_f64()),
    );
    Ok(())
}

/// Removes every image the project built (`clean --images`).
pub async fn remove_all(docker: &Docker) -> Result<usize, SetupError> {
    use testcontainers::bollard::query_parameters::{ListImagesOptions, RemoveImageOptions};
    let filters = Some(HashMap::from([(
        "label".to_string(),
        vec![LABEL.to_string()],
    )]));
    let list = docker
        .list_images(Some(ListImagesOptions {
            all: false,
            filters,
            ..Default::default()
        }))
        .await
        .map_err(|e| SetupError::new("images", e.to_string()))?;
    let mut n = 0;
    // Role images first: the base cannot go while images are built FROM it.
    let mut list: Vec<_> = list
        .into_iter()
        .map(|i| (i.labels.get(LABEL) == Some(&"base".to_string()), i.id))
        .collect();
    list.sort();
    for (_, id) in list {
        if docker
            .remove_image(
                &id,
                Some(RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await
            .is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}

//! The `livecompose` binary: the only place that prints errors and picks exit codes.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;

use livecompose::cli::{
    AuditArgs, BuildArgs, Cli, Command, OutputFormat, RepositoryArgs, SeedArgs, SquashfsArgs,
    VerifyArgs,
};
use livecompose::derive::{self, DeriveError};
use livecompose::kickstart::{self, Diagnostic, Parsed, Substitutions};
use livecompose::plan::{BuildPlan, PlanInputs};
use livecompose::progress::{Ui, human_bytes};
use livecompose::source_date::SourceDate;
use livecompose::squashfs::SquashfsOptions;
use livecompose::{boottest, interrupt, mirror, pipeline, sandbox};

/// The parsed package indexes are hundreds of thousands of small strings:
/// mimalloc allocates and frees them in a fraction of glibc malloc's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before anything else: the sandbox helper is this binary started again
    // by the build, not a command of the user's.
    let mut args = std::env::args_os().skip(1);
    if args
        .next()
        .is_some_and(|first| first == sandbox::HELPER_ARG)
    {
        sandbox::helper_main(args.collect());
    }
    let cli = Cli::parse();
    if let Err(error) = interrupt::install() {
        eprintln!("livecompose: cannot catch Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Some(Command::Validate(config)) => validate(&config.config),
        Some(Command::Flatten { config, output }) => flatten(&config.config, output.as_deref()),
        Some(Command::Resolve {
            config,
            repositories,
        }) => resolve(&config.config, repositories),
        Some(Command::Test(args)) => test_image(&args),
        Some(Command::Squashfs(args)) => pack_squashfs(&args),
        Some(Command::Seed(args)) => write_seed(&args),
        Some(Command::Derive { master, child }) => derive_child(&master, &child),
        Some(Command::Commit { child, new_master }) => commit_child(&child, &new_master),
        Some(Command::Audit(args)) => audit_image(&args),
        Some(Command::Verify(args)) => verify_dir(&args),
        Some(Command::Man { dir }) => write_man_pages(&dir),
        Some(Command::Cache { cache_dir, prune }) => show_or_prune_cache(&cache_dir, prune),
        None => build(cli.build),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("livecompose: {}", report(&error));
            exit_code(&error)
        }
    }
}

/// `livecompose test`: boots the image; with `--ssh` and no key, first makes
/// a key and a seed that lets it in.
fn test_image(args: &livecompose::cli::TestArgs) -> anyhow::Result<()> {
    let mut options = args.options();
    // Holds the generated key and seed until the boot is over.
    let mut _generated = None;
    if args.ssh && args.ssh_key.is_none() {
        if let Some(seed) = &args.seed {
            return Err(bad_input(anyhow::anyhow!(
                "--seed {}: a seed of your own authorizes a key of your own; give it with --ssh-key",
                seed.display()
            )));
        }
        let scratch = tempfile::Builder::new()
            .prefix("livecompose-login")
            .tempdir()
            .context("cannot make a directory for the generated login")?;
        let user = args
            .ssh_user
            .clone()
            .unwrap_or_else(|| boottest::cloud::DEFAULT_GENERATED_USER.to_owned());
        let login = boottest::cloud::generate_login(&user, scratch.path()).map_err(classified)?;
        options.seed = Some(login.seed);
        options.ssh = Some(boottest::SshLogin {
            key: login.key,
            user,
            commands: args.commands.clone(),
            client: boottest::DEFAULT_SSH_CLIENT.into(),
        });
        _generated = Some(scratch);
    }
    let report = boottest::boot(&args.image, &options).map_err(classified)?;
    println!("{}: {report}", args.image.display());
    Ok(())
}

/// `livecompose audit`: the report on standard output, as lines or JSON;
/// findings end in [`livecompose::audit::Failed`] (exit 3).
fn audit_image(args: &AuditArgs) -> anyhow::Result<()> {
    use livecompose::audit;
    let tree = audit::open(&args.image).map_err(classified)?;
    let report = audit::audit(tree.as_ref(), &args.policy()).map_err(classified)?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{:#}", report.to_json(&args.image))
    } else {
        report
            .findings
            .iter()
            .try_for_each(|finding| writeln!(stdout, "{finding}"))
            .and_then(|()| {
                report
                    .notes
                    .iter()
                    .try_for_each(|note| writeln!(stdout, "note: {note}"))
            })
    }
    .context("cannot write to standard output")?;
    match report.findings.len() {
        0 => {
            // Said on stderr, so that stdout stays the findings alone.
            if !args.json {
                eprintln!("{}: nothing to report", args.image.display());
            }
            Ok(())
        }
        count => Err(audit::Failed {
            image: args.image.clone(),
            count,
        }
        .into()),
    }
}

/// `livecompose verify`: bad input exits 2, a check that ran and failed 3
/// (as an audit's findings), so CI tells a tampered output from a typo.
fn verify_dir(args: &VerifyArgs) -> anyhow::Result<()> {
    use livecompose::verify;
    let keyring = args
        .key
        .as_deref()
        .map(verify::load_key)
        .transpose()
        .map_err(bad_input)?;
    let ui = Ui::new(args.quiet);
    let verified = verify::verify(&args.dir, keyring.as_ref(), &ui).map_err(bad_input)??;
    let signed = match &verified.signer {
        Some(signer) => format!(
            "SHA256SUMS signed by {}{}",
            signer.primary_fingerprint,
            signer
                .user_id
                .as_deref()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default()
        ),
        None => "signature not checked (--no-signature)".to_owned(),
    };
    println!(
        "{}: {} file{} intact; {signed}",
        args.dir.display(),
        verified.files,
        if verified.files == 1 { "" } else { "s" }
    );
    Ok(())
}

/// The input was wrong (a kickstart, an option), not the build: exit code 2,
/// as for a usage error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct BadInput(anyhow::Error);

fn bad_input(error: impl Into<anyhow::Error>) -> anyhow::Error {
    BadInput(error.into()).into()
}

/// An error that knows whether the command line or an input named on it is at
/// fault, rather than the machine or the build.
trait Blame: Into<anyhow::Error> {
    fn is_bad_input(&self) -> bool;
}

macro_rules! blame_by_method {
    ($($error:ty),*) => {$(
        impl Blame for $error {
            fn is_bad_input(&self) -> bool {
                <$error>::is_bad_input(self)
            }
        }
    )*};
}

blame_by_method!(
    boottest::BootError,
    boottest::cloud::CloudLoginError,
    livecompose::audit::AuditError,
    DeriveError
);

/// The error, as exit code 2 when the input is at fault.
fn classified(error: impl Blame) -> anyhow::Error {
    if error.is_bad_input() {
        bad_input(error)
    } else {
        error.into()
    }
}

/// What scripts read from the exit status: 1 the build or the tool failed,
/// 2 the input is wrong (clap's code for usage errors too), 3 the boot test
/// ran and the image did not reach the expected line, did not let us in
/// over SSH, or a command failed there, or the audit found problems in the
/// image; 128 + N a signal N stopped it.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    if let Some(status) = interrupt::exit_status() {
        return ExitCode::from(status);
    }
    let booted_and_failed = error.chain().any(|cause| {
        cause
            .downcast_ref::<boottest::BootError>()
            .is_some_and(boottest::BootError::is_test_failure)
    });
    let checked_and_failed = error.chain().any(|cause| {
        cause.is::<livecompose::audit::Failed>() || cause.is::<livecompose::verify::VerifyFailed>()
    });
    if booted_and_failed || checked_and_failed {
        ExitCode::from(3)
    } else if error.chain().any(|cause| cause.is::<BadInput>()) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// The error and its causes on one line. Many errors already quote their
/// cause (`{path}: {source}`, also in other crates); a cause whose text was
/// said once is not said again.
fn report(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// livecompose(1) and livecompose-SUBCOMMAND(1), rendered from the clap
/// definitions.
fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let command = Cli::command();
    let mut pages = vec![command.clone()];
    pages.extend(
        command
            .get_subcommands()
            .filter(|sub| sub.get_name() != "help")
            .map(|sub| {
                let name = format!("livecompose-{}", sub.get_name());
                sub.clone().name(name)
            }),
    );
    for page in pages {
        let path = dir.join(format!("{}.1", page.get_name()));
        let mut text = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut text)
            .context("cannot render a man page")?;
        write_atomically(&path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// Reads a kickstart, printing its warnings; errors come back as one message.
fn load(path: &std::path::Path) -> anyhow::Result<Parsed> {
    match kickstart::parse_file(path) {
        Ok(parsed) => {
            print_diagnostics(&parsed.warnings);
            Ok(parsed)
        }
        Err(failure) => {
            print_diagnostics(&failure.warnings);
            print_diagnostics(&failure.errors);
            let count = failure.errors.len();
            Err(bad_input(anyhow::anyhow!(
                "{} has {count} error{}",
                path.display(),
                if count == 1 { "" } else { "s" }
            )))
        }
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in diagnostics {
        let _ = writeln!(stderr, "{diagnostic}");
    }
}

fn validate(path: &std::path::Path) -> anyhow::Result<()> {
    load(path).map(drop)
}

fn flatten(path: &std::path::Path, output: Option<&std::path::Path>) -> anyhow::Result<()> {
    let text = load(path)?.kickstart.render();
    match output {
        Some(file) => write_atomically(file, text.as_bytes())
            .with_context(|| format!("cannot write {}", file.display())),
        None => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`| head`) is the reader's choice, not our failure.
            match stdout.write_all(text.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write to standard output"),
            }
        }
    }
}

/// Writes beside the target and renames, so a reader never sees half a file.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What the command line says about the output, for [`plan`].
struct OutputChoice {
    label: String,
    format: OutputFormat,
    output_dir: std::path::PathBuf,
    overlays: Vec<std::path::PathBuf>,
    squashfs: SquashfsOptions,
    disk_size: Option<u64>,
    compress: bool,
    pxe_url: Option<String>,
}

/// The plan for a kickstart: what `build` and `resolve` share.
fn plan(
    config: &std::path::Path,
    repositories: &RepositoryArgs,
    output: OutputChoice,
) -> anyhow::Result<BuildPlan> {
    let parsed = load(config)?;
    let substitutions = Substitutions {
        mirror: mirror::discover(repositories.mirror.as_deref()),
        releasever: repositories.releasever.clone(),
        basearch: std::env::consts::ARCH.to_owned(),
    };
    let inputs = PlanInputs {
        label: output.label,
        format: output.format,
        output_dir: output.output_dir,
        cache_dir: repositories.cache_dir.clone(),
        overlays: output.overlays,
        substitutions,
        squashfs: output.squashfs,
        disk_size: output.disk_size,
        compress: output.compress,
        pxe_url: output.pxe_url,
        ca_files: repositories.ca_files.clone(),
    };
    let plan = BuildPlan::new(parsed.kickstart, inputs).map_err(bad_input)?;
    print_diagnostics(&plan.warnings);
    Ok(plan)
}

fn resolve(config: &std::path::Path, repositories: RepositoryArgs) -> anyhow::Result<()> {
    // The label only names outputs, and resolve writes none.
    let plan = plan(
        config,
        &repositories,
        OutputChoice {
            label: "resolve".to_owned(),
            format: OutputFormat::Dir,
            output_dir: ".".into(),
            overlays: Vec::new(),
            squashfs: SquashfsOptions::default(),
            disk_size: None,
            compress: false,
            pxe_url: None,
        },
    )?;
    let ui = Ui::new(repositories.quiet);
    let fetcher = pipeline::open_cache(&plan)?;
    let (_, resolution) = pipeline::resolve(&plan, &fetcher, &ui)?;
    let mut stdout = std::io::stdout().lock();
    let mut out = String::new();
    for package in &resolution.packages {
        out.push_str(&format!(
            "{} {} {} {}\n",
            package.name, package.version, package.architecture, package.repository
        ));
    }
    let size = resolution.download_size();
    out.push_str(&format!(
        "{} packages, total download size {} ({size} bytes)\n",
        resolution.packages.len(),
        human_bytes(size)
    ));
    match stdout.write_all(out.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let (Some(config), Some(label)) = (args.config, args.label) else {
        return Err(bad_input(anyhow::anyhow!(
            "--config and --label are required to build an image (see --help)"
        )));
    };
    // Checked before any work: a value that is not a time is the caller's.
    let source_date_epoch = SourceDate::from_environment().map_err(bad_input)?;
    // Read before the plan, so that a bad key stops the build before any
    // download or work.
    let sign_key = args
        .sign_key
        .as_deref()
        .map(livecompose::sign::SigningKey::from_file)
        .transpose()
        .map_err(bad_input)?;
    let mut plan = plan(
        &config,
        &args.repositories,
        OutputChoice {
            label,
            format: args.format,
            output_dir: args.output,
            overlays: args.overlay,
            squashfs: args.squashfs.options().map_err(bad_input)?,
            disk_size: args.disk_size,
            compress: args.compress,
            pxe_url: args.pxe_url,
        },
    )?;
    plan.sign_key = sign_key;
    plan.incremental = !args.no_incremental;
    if args.dry_run {
        print!("{}", plan.describe());
        return Ok(());
    }
    let ui = Ui::new(args.repositories.quiet);
    let built = pipeline::build(&plan, source_date_epoch, &ui)?;
    if !args.no_audit {
        pipeline::audit(&plan, &built, &ui)?;
    }
    let size = if built.size > 0 {
        format!(", {}", human_bytes(built.size))
    } else {
        String::new()
    };
    ui.step(format!(
        "Done: {} ({} packages{size}; log: {})",
        built.output.display(),
        built.packages,
        built.log.display()
    ));
    Ok(())
}

fn pack_squashfs(args: &SquashfsArgs) -> anyhow::Result<()> {
    let options = args.options().map_err(bad_input)?;
    let stats = livecompose::squashfs::write_image(&args.source, &args.output, &options)
        .with_context(|| {
            format!(
                "cannot pack {} into {}",
                args.source.display(),
                args.output.display()
            )
        })?;
    if stats.skipped_xattrs > 0 {
        eprintln!(
            "livecompose: warning: {} xattrs outside the user, trusted and security namespaces (e.g. POSIX ACLs) cannot be stored in squashfs and were left out",
            stats.skipped_xattrs
        );
    }
    eprintln!(
        "{}: {} inodes, {} bytes, {} duplicate files",
        args.output.display(),
        stats.inodes,
        stats.bytes_used,
        stats.duplicate_files
    );
    Ok(())
}

fn write_seed(args: &SeedArgs) -> anyhow::Result<()> {
    let report = match livecompose::seed::write_seed(&args.spec(), &args.output) {
        Ok(report) => report,
        Err(error) if error.is_bad_input() => return Err(bad_input(error)),
        Err(error) => {
            return Err(anyhow::Error::new(error)
                .context(format!("cannot write {}", args.output.display())));
        }
    };
    use livecompose::seed::UserDataKind;
    eprintln!(
        "{}: NoCloud seed ({}), {} bytes: {}; user-data {}",
        args.output.display(),
        match args.fs {
            livecompose::image::VolumeFs::Iso9660 => "iso9660",
            livecompose::image::VolumeFs::Vfat => "vfat",
        },
        report.size,
        report.files.join(", "),
        match report.kind {
            UserDataKind::CloudConfig => "is a valid cloud-config",
            UserDataKind::Script => "is a script (not checked)",
            UserDataKind::Multipart => "is a MIME multipart archive (parts not checked)",
        }
    );
    Ok(())
}

/// `livecompose cache`: one line per part of the cache and a total; with
/// `--prune`, what was removed.
fn show_or_prune_cache(cache_dir: &std::path::Path, prune: bool) -> anyhow::Result<()> {
    use livecompose::fetch::maintenance;
    let parts = if prune {
        maintenance::prune(cache_dir)?
    } else {
        maintenance::usage(cache_dir)
            .with_context(|| format!("cannot read the cache {}", cache_dir.display()))?
    };
    let mut out = String::new();
    for part in &parts {
        out.push_str(&format!(
            "{:<10} {:>7} files {:>10}  {}\n",
            part.name,
            part.files,
            human_bytes(part.bytes),
            part.describe()
        ));
    }
    let files: u64 = parts.iter().map(|part| part.files).sum();
    let bytes: u64 = parts.iter().map(|part| part.bytes).sum();
    out.push_str(&format!(
        "{}: {files} files, {} {}\n",
        cache_dir.display(),
        human_bytes(bytes),
        if prune { "removed" } else { "in all" }
    ));
    print!("{out}");
    Ok(())
}

fn derive_child(master: &std::path::Path, child: &std::path::Path) -> anyhow::Result<()> {
    let backing = derive::derive(master, child).map_err(classified)?;
    eprintln!(
        "{}: a child of {} (backing file {}, format qcow2)",
        child.display(),
        master.display(),
        backing.display()
    );
    Ok(())
}

fn commit_child(child: &std::path::Path, new_master: &std::path::Path) -> anyhow::Result<()> {
    let stats = derive::commit(child, new_master).map_err(classified)?;
    eprintln!(
        "{}: {} with the changes of {} merged ({} data clusters, {})",
        new_master.display(),
        human_bytes(stats.virtual_size),
        child.display(),
        stats.data_clusters,
        human_bytes(stats.file_size)
    );
    Ok(())
}

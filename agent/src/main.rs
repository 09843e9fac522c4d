//! `waybill-agent`: a handheld simulator for scripts, demos and tests, over
//! the same library a mobile app embeds. Errors go to stderr with a non-zero
//! exit code.

mod cli;

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use cli::output::{self, Reply};
use cli::{Cli, Command};
use waybill_agent::{Agent, AgentError, BlobInput, DeliveryRequest, PickRequest, Profile, Seed};
use waybill_shared::event::Event;
use waybill_shared::event::payment::Collection;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Init { device, role, location, user } = cli.command {
        let profile = Profile { device, role, location, user };
        let agent = Agent::init(&cli.store, profile)?;
        print(&output::status(&agent.status()?), cli.json);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Enrol { server, code, fingerprint } = &cli.command {
        let agent = runtime()?.block_on(Agent::enrol(&cli.store, *server, code, fingerprint))?;
        print(&output::status(&agent.status()?), cli.json);
        return Ok(ExitCode::SUCCESS);
    }
    let mut agent = Agent::open(&cli.store).map_err(|e| match e {
        AgentError::NotInitialised => anyhow::anyhow!(
            "{} holds no device: set one up with `waybill-agent init` or `waybill-agent enrol`, \
             or name another store with --store or WAYBILL_STORE",
            cli.store.display()
        ),
        e => anyhow::Error::new(e).context(format!("store {}", cli.store.display())),
    })?;
    if let Command::Sync { watch, timeout } = cli.command {
        agent.set_timeout(std::time::Duration::from_secs(timeout));
        let rt = runtime()?;
        if watch {
            rt.block_on(agent.sync_forever(async {
                let _ = tokio::signal::ctrl_c().await;
            }));
            return Ok(ExitCode::SUCCESS);
        }
        let report = rt.block_on(agent.sync_once())?;
        print(&output::synced(&report), cli.json);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Run = cli.command {
        return script(&mut agent, cli.json);
    }
    print(&execute(&mut agent, cli.command)?, cli.json);
    Ok(ExitCode::SUCCESS)
}

/// Runs commands from standard input, one per line (`#` starts a comment),
/// printing each result once it is durable. Carries on past a failed command;
/// the exit code says whether any failed.
fn script(agent: &mut Agent, json: bool) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let outcome = shell_words::split(line).map_err(anyhow::Error::from).and_then(|words| {
            let cli = Cli::try_parse_from(std::iter::once("waybill-agent".to_owned()).chain(words))
                .map_err(|e| anyhow::anyhow!("{}", clap_message(&e)))?;
            if matches!(cli.command, Command::Init { .. } | Command::Run) {
                bail!("init and run cannot be used inside run");
            }
            execute(agent, cli.command)
        });
        match outcome {
            Ok(reply) => print(&reply, json),
            Err(e) => {
                failed += 1;
                eprintln!("error: line {}: {e:#}", n + 1);
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// A command-line error as one line, for `run`: clap's first line without
/// its "error: " and usage (the line number says where).
fn clap_message(e: &clap::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_owned()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

fn print(reply: &Reply, json: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json { reply.json.to_string() } else { reply.text.clone() };
    // A closed stdout (a script that stopped reading) is not an error of ours.
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
}

/// The reply to an event just recorded, naming the documents it went to.
macro_rules! recorded {
    ($agent:ident, $event:expr) => {{
        let event = $event;
        output::event(&event, &$agent.documents_of(&event.id)?)
    }};
}

/// The reply to a command that records one event per order.
fn several(agent: &Agent, events: Vec<Event>, about: serde_json::Value) -> anyhow::Result<Reply> {
    let mut each = Vec::new();
    for e in events {
        let docs = agent.documents_of(&e.id)?;
        each.push((e, docs));
    }
    Ok(output::events(&each, about))
}

fn execute(agent: &mut Agent, command: Command) -> anyhow::Result<Reply> {
    Ok(match command {
        Command::Init { .. } | Command::Run | Command::Enrol { .. } | Command::Sync { .. } => {
            bail!("init, enrol, sync and run cannot be used inside run")
        }
        Command::Import { file } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let seed: Seed = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a seed file", file.display()))?;
            output::imported(&agent.import(&seed)?)
        }
        Command::Status => output::status(&agent.status()?),
        Command::Servers { addresses } => {
            if !addresses.is_empty() {
                agent.set_servers(&addresses)?;
            }
            let servers: Vec<String> = agent.servers()?.iter().map(ToString::to_string).collect();
            Reply { text: servers.join("\n"), json: serde_json::json!({ "servers": servers }) }
        }
        Command::Tasks => output::tasks(&agent.tasks()?),
        Command::Scan { code } => output::scanned(&agent.scan(&code)?),
        Command::Pick { order, line, bin, item, qty, override_reason } => {
            let over = override_reason.is_none();
            let picked = agent.pick(&PickRequest { order, line, bin, item, quantity: qty, override_reason });
            recorded!(
                agent,
                picked.map_err(|e| match e {
                    AgentError::TooMany { .. } if over => {
                        anyhow::anyhow!("{e}: a supervisor may allow more with --override REASON")
                    }
                    e => e.into(),
                })?
            )
        }
        Command::ShortPick { order, line, bin, qty, reason } => {
            recorded!(agent, agent.short_pick(&order, line, &bin, qty, reason)?)
        }
        Command::PutBack { order, line, bin, item, qty } => {
            recorded!(agent, agent.put_back(&order, line, &bin, &item, qty)?)
        }
        Command::Pack { order, package, lines, weight_g, dims } => {
            recorded!(agent, agent.pack(&order, &package, &lines, weight_g, dims)?)
        }
        Command::Close { order, package, weight_g } => {
            recorded!(agent, agent.close_package(&order, &package, weight_g)?)
        }
        Command::Stage { order, package, area } => recorded!(agent, agent.stage(&order, &package, &area)?),
        Command::Load { route, package } => recorded!(agent, agent.load(&route, &package)?),
        Command::Out { route } => {
            let events = agent.out_for_delivery(&route)?;
            several(agent, events, serde_json::json!({ "route": route }))?
        }
        Command::Arrive { route, stop, gps } => recorded!(agent, agent.arrive(&route, stop, gps)?),
        Command::Deliver {
            route,
            stop,
            packages,
            recipient,
            relation,
            left_at,
            photo,
            signature,
            gps,
            note,
            age_ok,
            collect,
            currency,
            method,
        } => recorded!(
            agent,
            agent.deliver(&DeliveryRequest {
                route,
                stop,
                packages,
                recipient_name: recipient,
                relation,
                left_at,
                photo: photo.map(BlobInput::File),
                signature: signature.map(BlobInput::File),
                gps,
                note,
                age_check_passed: age_ok.then_some(true),
                collection: collect.zip(currency).map(|(amount_minor, currency)| Collection {
                    amount_minor,
                    currency,
                    method,
                }),
            })?
        ),
        Command::Fail { route, stop, reason, note, gps } => {
            let events = agent.fail_attempt(&route, stop, reason, note, gps)?;
            several(agent, events, serde_json::json!({ "route": route, "stop": stop }))?
        }
        Command::ReturnToDepot { route, package } => {
            recorded!(agent, agent.return_to_depot(&route, &package)?)
        }
        Command::ReceiveReturn { order, lines, disposition, bin, rma } => {
            recorded!(agent, agent.receive_return(&order, &lines, disposition, rma, bin.as_deref())?)
        }
        Command::Receive { bin, item, qty } => recorded!(agent, agent.receive(&bin, &item, qty)?),
        Command::PutAway { from, to, item, qty } => recorded!(agent, agent.put_away(&from, &to, &item, qty)?),
        Command::Count { bin, item, counted } => recorded!(agent, agent.count(&bin, &item, counted)?),
        Command::Adjust { bin, item, delta, reason } => {
            recorded!(agent, agent.adjust(&bin, &item, delta, reason)?)
        }
        Command::Sell { bin, item, qty, customer } => {
            recorded!(agent, agent.sell(&bin, &item, qty, customer)?)
        }
        Command::Quota => output::quotas(&agent.quotas()?),
        Command::QuotaRelease { item, qty } => recorded!(agent, agent.release_quota(&item, qty)?),
        Command::Order { id } => output::order(&agent.order_view(&id)?),
        Command::Stock { location } => {
            let location = location
                .or_else(|| agent.profile().location.clone())
                .context("this device has no location: name one, as in `stock wh-1`")?;
            output::stock(&agent.stock_view(&location)?)
        }
        Command::Route { id } => output::route(&agent.route_view(&id)?),
        Command::Export { doc, out, view } => {
            let bytes = agent.export(&doc)?;
            write_new(&out, &bytes)?;
            if let Some(path) = &view {
                write_new(path, serde_json::to_string_pretty(&agent.view_json(&doc)?)?.as_bytes())?;
            }
            output::exported(&doc, &out, view.as_deref(), bytes.len())
        }
        Command::Merge { files } => {
            let mut merged = Vec::new();
            for f in &files {
                let bytes = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
                merged
                    .push(agent.merge_doc(&bytes).with_context(|| format!("cannot merge {}", f.display()))?);
            }
            output::merged(&merged)
        }
        Command::Evict => output::evicted(&agent.evict()?),
        Command::Docs => output::documents(&agent.documents()?, &agent.unsynced_documents()?),
    })
}

/// Writes a file whole: to a temporary name, then renamed, so a reader never
/// sees half of it.
fn write_new(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

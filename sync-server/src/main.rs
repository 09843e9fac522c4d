//! `waybill-server`: runs the sync server, and is the operator's and the
//! office's command line over its data directory (enrol, list and revoke
//! devices, import orders, look at the merged state).

mod allocator;
mod demo;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use waybill_shared::gs1::Gtin;
use waybill_shared::id::{DeviceId, LocationId, OrderId};
use waybill_shared::role::Role;
use waybill_shared::sync::{OLDEST_PROTOCOL, PROTOCOL_VERSION};
use waybill_sync_server::storage::{self, Database, Listing, Storage};
use waybill_sync_server::users::{self, UserRole};
use waybill_sync_server::{
    Config, Limits, Server, audit, devices, identity::Identity, mail, server::db_path,
};

/// The Waybill sync server.
#[derive(Debug, Parser)]
#[command(name = "waybill-server", version, about)]
struct Cli {
    /// The data directory (database, keys, blobs) [default: waybill-data;
    /// for `demo`: waybill-demo].
    #[arg(long, env = "WAYBILL_DATA", global = true)]
    data: Option<PathBuf>,
    /// A PostgreSQL database shared by several server nodes
    /// (`postgres://user@host/name`) [default: SQLite in the data
    /// directory]. The data directory still holds the keys and blobs.
    #[arg(long, env = "WAYBILL_DATABASE", global = true)]
    database: Option<String>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// UDP address to listen on.
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: SocketAddr,
        /// TCP address for the office's HTTP API and page (off if not
        /// given). Office users sign in (see `user add`); scripts may use the
        /// service token WAYBILL_OFFICE_TOKEN as a bearer token.
        #[arg(long)]
        http: Option<SocketAddr>,
        /// Idle documents kept in memory: fewer hold less memory and load
        /// documents from the database more often (docs/operations.md).
        #[arg(long, env = "WAYBILL_CACHED_DOCS", default_value_t = Limits::default().cached_docs)]
        cached_docs: usize,
        /// The newest sync protocol version to speak: devices newer than it
        /// fall back to it (3 sends a device a document it holds none of
        /// whole; 2 packs sync messages and pushes changes; 1 does neither).
        #[arg(long, env = "WAYBILL_PROTOCOL", default_value_t = Limits::default().protocol,
              value_parser = clap::value_parser!(u16).range(i64::from(OLDEST_PROTOCOL)..=i64::from(PROTOCOL_VERSION)))]
        protocol: u16,
        #[command(flatten)]
        mail: MailArgs,
        #[command(flatten)]
        map: MapArgs,
    },
    /// The whole system with a simulated fleet, on SQLite in --data (default
    /// ./waybill-demo), and the office dashboard: the README's main job.
    ///
    /// Each run starts a new world: an earlier demo's world in the folder is
    /// replaced (any other data there is refused, and so is a folder a
    /// running demo holds). To keep a world, give the next run another
    /// --data folder; the kept one can still be looked at with
    /// `waybill-server --data FOLDER serve --http 127.0.0.1:8080`.
    Demo {
        /// UDP address for devices.
        #[arg(long, default_value = "127.0.0.1:4433")]
        listen: SocketAddr,
        /// The dashboard's address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        /// Orders to start with.
        #[arg(long, default_value_t = 300)]
        orders: usize,
        /// Seed of the made-up world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Stop when the fleet has settled and print a summary.
        #[arg(long)]
        once: bool,
        /// The longest run with --once, in minutes.
        #[arg(long, default_value_t = 5)]
        minutes: u64,
        /// Scale the fleet's pauses (0.2 is five times faster).
        #[arg(long, default_value_t = 1.0)]
        pace: f64,
        /// Send customers' emails through this SMTP server
        /// (smtp://host:port) instead of the demo's own sink, which keeps
        /// them as files in DATA/mail.
        #[arg(long)]
        smtp: Option<String>,
    },
    /// Office users who sign in to the page and API.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Enrol a device: prints its one-time code and the fingerprint to pin.
    Enrol {
        /// The device's id (letters, digits, '-', '_', '.').
        #[arg(long)]
        device: DeviceId,
        /// picker, packer, driver or office.
        #[arg(long)]
        role: Role,
        /// The location it works at (pickers and packers need one; it must
        /// be a location the server holds).
        #[arg(long)]
        location: Option<LocationId>,
    },
    /// List devices.
    Devices,
    /// Revoke a device, at once (also mid-connection).
    Revoke {
        /// The device's id.
        #[arg(long)]
        device: String,
    },
    /// Import orders, locations and routes from a seed file (JSON).
    Import {
        /// The seed file (see agent/demo/seed.json).
        file: PathBuf,
    },
    /// Orders with status and open exceptions.
    Orders,
    /// One order's merged view.
    Order {
        /// The order's id.
        id: OrderId,
    },
    /// Open exceptions.
    Exceptions,
    /// Stock per location, bin and item.
    Stock,
    /// Changes the write policy refused.
    Quarantine,
    /// Set the quota target of an item at a location: units each device of a
    /// role (drivers by default) enrolled there holds to sell offline,
    /// granted out of free stock when it next connects (0 clears it).
    QuotaTarget {
        /// The location.
        #[arg(long)]
        location: LocationId,
        /// The item (GTIN).
        #[arg(long)]
        gtin: Gtin,
        /// Units per device.
        #[arg(long)]
        target: u32,
        /// The devices it is for: driver or picker.
        #[arg(long, default_value = "driver")]
        role: Role,
    },
    /// Each device's quota per location and item.
    Quotas,
    /// The fingerprint devices pin.
    Fingerprint,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user. The password is asked for (not shown) when standard input
    /// is a terminal; otherwise it is the first line of standard input
    /// (`echo "$PW" | waybill-server user add NAME`), or WAYBILL_PASSWORD if
    /// that is set.
    Add {
        /// The user's name: letters, digits, '.', '_', '-' or '@'.
        name: String,
        /// admin (everything), dispatcher (orders, allocation, routes,
        /// exceptions), warehouse_lead (receipts, pick lists, quotas,
        /// exceptions at its locations) or viewer (reads only).
        #[arg(long, default_value = "admin")]
        role: UserRole,
        /// A location a warehouse_lead works at (repeat for several).
        #[arg(long = "location")]
        locations: Vec<LocationId>,
    },
    /// Change a user's role (and a warehouse_lead's locations); their
    /// sessions carry on under the new role.
    SetRole {
        /// The user's name.
        name: String,
        /// admin, dispatcher, warehouse_lead or viewer.
        #[arg(long)]
        role: UserRole,
        /// A location a warehouse_lead works at (repeat for several).
        #[arg(long = "location")]
        locations: Vec<LocationId>,
    },
    /// Remove a user and end their sessions.
    Remove {
        /// The user's name.
        name: String,
    },
    /// List users with their roles.
    List,
}

fn main() -> std::process::ExitCode {
    allocator::tune();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Once, as a chain: each cause says only what it adds.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(mut cli: Cli) -> anyhow::Result<()> {
    let is_demo = matches!(cli.command, Command::Demo { .. });
    let data = cli
        .data
        .take()
        .unwrap_or_else(|| PathBuf::from(if is_demo { "waybill-demo" } else { "waybill-data" }));
    // The demo tells its story on stdout; the server's log would drown it.
    let level = if is_demo { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: a log file keeps plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if !is_demo {
        std::fs::create_dir_all(&data)
            .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    }
    let database = match cli.database.take() {
        None => Database::Sqlite(db_path(&data)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Database::Postgres(url)
        }
        Some(other) => bail!(
            "--database takes a postgres:// address, not {other:?}; without it the database is SQLite in --data"
        ),
    };
    if let Command::Demo { listen, http, orders, seed, once, minutes, pace, smtp } = cli.command {
        if matches!(database, Database::Postgres(_)) {
            bail!("the demo runs on SQLite in its own folder; run `serve --database ...` for PostgreSQL");
        }
        return demo::run(demo::Options { data, listen, http, orders, seed, once, minutes, pace, smtp });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(command(cli.command, cli.json, &data, database))
}

async fn command(command: Command, json: bool, data: &Path, database: Database) -> anyhow::Result<()> {
    let data = data.to_path_buf();
    let open = || async { anyhow::Ok(storage::open(&database).await?.0) };
    match command {
        Command::Serve { listen, http, cached_docs, protocol, mail, map } => {
            let map = waybill_sync_server::http::MapSettings::new(map.map_tiles, map.far_delivery_m)?;
            let limits = Limits { cached_docs, protocol, ..Limits::default() };
            serve(&data, database.clone(), listen, limits, http, mail, map).await
        }
        Command::Enrol { device, role, location } => {
            let identity = Identity::load_or_create(&data)?;
            let storage = open().await?;
            // The fingerprint printed must be the one every node serves.
            waybill_sync_server::server::same_keys(&storage, &identity, &data).await?;
            let code =
                devices::issue_code(&storage, &device, role, location.as_ref(), chrono::Utc::now()).await?;
            let fp = identity.ca_fingerprint();
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "device": device, "role": role, "code": code, "fingerprint": fp })
                );
            } else {
                println!("device:      {device} ({role})\ncode:        {code}\nfingerprint: {fp}");
            }
            Ok(())
        }
        Command::Devices => {
            let rows = devices::list(&open().await?).await?;
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|d| {
                    let state = if d.revoked_at.is_some() {
                        "revoked"
                    } else if d.enrolled_at.is_some() {
                        "enrolled"
                    } else {
                        "code issued"
                    };
                    vec![
                        d.id.clone(),
                        d.role.clone(),
                        d.location.clone().unwrap_or_else(|| "-".into()),
                        state.to_owned(),
                        d.last_seen.clone().unwrap_or_else(|| "never".into()),
                    ]
                })
                .collect();
            print_rows(
                json,
                &rows,
                &["device", "role", "location", "state", "last seen"],
                table,
                "no devices yet: enrol one with `enrol --device ID --role ROLE`",
            )
        }
        Command::Revoke { device } => {
            devices::revoke(&open().await?, &device, chrono::Utc::now()).await.map_err(|e| match e {
                devices::DeviceError::Unknown(d) => anyhow::anyhow!("no device {d}: `devices` lists them"),
                e => e.into(),
            })?;
            println!("revoked {device}");
            Ok(())
        }
        Command::Import { file } => import(&database, &file).await,
        Command::User { command } => user(&open().await?, &data, json, command).await,
        Command::Demo { .. } => unreachable!("the demo ran above"),
        Command::Orders => {
            query(
                &open().await?,
                json,
                Listing::Orders,
                &["id", "status", "customer", "open_exceptions"],
                "no orders yet: import some with `import FILE`",
            )
            .await
        }
        Command::Order { id } => {
            let view = open()
                .await?
                .order_view(id.as_str())
                .await?
                .with_context(|| format!("there is no order {id}: `orders` lists them"))?;
            let v: serde_json::Value = serde_json::from_str(&view)?;
            println!("{}", if json { v.to_string() } else { serde_json::to_string_pretty(&v)? });
            Ok(())
        }
        Command::Exceptions => {
            query(
                &open().await?,
                json,
                Listing::Exceptions,
                &["doc", "id", "kind", "events"],
                "no open exceptions",
            )
            .await
        }
        Command::Stock => {
            query(
                &open().await?,
                json,
                Listing::Stock,
                &["location", "bin", "gtin", "on_hand"],
                "no stock yet: import locations with `import FILE`",
            )
            .await
        }
        Command::Quarantine => {
            query(
                &open().await?,
                json,
                Listing::Quarantine,
                &["device", "doc", "change", "refusal", "at"],
                "nothing quarantined",
            )
            .await
        }
        Command::QuotaTarget { location, gtin, target, role } => {
            waybill_sync_server::quota::store_target(&open().await?, &location, &gtin, role, target).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "location": location, "gtin": gtin, "role": role, "target": target })
                );
            } else {
                println!("quota target at {location}: {target} unit(s) of {gtin} per {role}");
            }
            Ok(())
        }
        Command::Quotas => {
            query(
                &open().await?,
                json,
                Listing::Quotas,
                &["location", "device", "gtin", "granted", "sold", "released", "remaining"],
                "no quotas yet: set a target with `quota-target`",
            )
            .await
        }
        Command::Fingerprint => {
            println!("{}", Identity::load_or_create(&data)?.ca_fingerprint());
            Ok(())
        }
    }
}

/// The office map (docs/office.md).
#[derive(Debug, clap::Args)]
struct MapArgs {
    /// Draw map tiles from this server under the office map (none: stops
    /// and lines on a plain background, for depots without internet):
    /// https://tile.example/{z}/{x}/{y}.png.
    #[arg(long, env = "WAYBILL_MAP_TILES")]
    map_tiles: Option<String>,
    /// Highlight on the map proofs of delivery taken farther than this
    /// many metres from their address. (The fold's exception for it uses a
    /// fixed 500 m, the same on every device.)
    #[arg(long, env = "WAYBILL_FAR_DELIVERY_M", default_value_t = 500)]
    far_delivery_m: u32,
}

/// How customers' emails are sent.
#[derive(Debug, clap::Args)]
struct MailArgs {
    /// The SMTP server customers' emails go through (off if not given):
    /// smtp://host:port, smtps://user:pass@host, or
    /// smtp://host:587?tls=required.
    #[arg(long, env = "WAYBILL_SMTP")]
    smtp: Option<String>,
    /// Who customers' emails come from.
    #[arg(long, env = "WAYBILL_MAIL_FROM", default_value = "Waybill <noreply@localhost>")]
    mail_from: String,
    /// Where customers reach this server's tracking pages, for the links in
    /// emails (default: the --http address).
    #[arg(long, env = "WAYBILL_PUBLIC_URL")]
    public_url: Option<String>,
    /// The folder of email templates (default: DATA/templates; see
    /// docs/customer.md).
    #[arg(long)]
    templates: Option<PathBuf>,
}

impl MailArgs {
    /// The mailer, if SMTP is set.
    fn mailer(&self, data: &Path, http: Option<SocketAddr>) -> anyhow::Result<Option<mail::Mailer>> {
        let Some(smtp) = &self.smtp else { return Ok(None) };
        let public_url = match (&self.public_url, http) {
            (Some(url), _) => url.clone(),
            (None, Some(http)) => format!("http://{http}"),
            (None, None) => bail!(
                "emails link to the tracking pages: give --http, or --public-url where customers reach them"
            ),
        };
        let templates = self.templates.clone().unwrap_or_else(|| data.join("templates"));
        Ok(Some(mail::Mailer::new(smtp, &self.mail_from, &public_url, &templates)?))
    }
}

async fn serve(
    data: &Path,
    database: Database,
    listen: SocketAddr,
    limits: Limits,
    http: Option<SocketAddr>,
    mail: MailArgs,
    map: waybill_sync_server::http::MapSettings,
) -> anyhow::Result<()> {
    {
        // Checked before anything starts: a bad SMTP address or template
        // stops the server with the reason.
        let mailer = mail.mailer(data, http)?;
        let server = Server::start(Config { data_dir: data.to_path_buf(), database, listen, limits }).await?;
        if let Some(mailer) = mailer {
            tokio::spawn(mail::run(server.shared(), mailer));
        }
        let addr = server.local_addr()?;
        tracing::info!(%addr, data = %data.display(), fingerprint = %server.ca_fingerprint(), "waybill-server listening");
        println!("listening on {addr}");
        if let Some(http) = http {
            let token = std::env::var("WAYBILL_OFFICE_TOKEN").unwrap_or_default();
            if !users::any(&server.shared().storage).await? && token.is_empty() {
                println!(
                    "no office users yet: add one with `waybill-server --data {} user add NAME`",
                    data.display()
                );
            }
            let router = waybill_sync_server::http::router_with(server.shared(), token, map);
            let listener = tokio::net::TcpListener::bind(http).await.with_context(|| format!("cannot listen for HTTP on {http} (is another server on it? Pass --http with another port)"))?;
            println!("office API on http://{}", listener.local_addr()?);
            tokio::spawn(async move {
                if let Err(e) = waybill_sync_server::http::serve(listener, router).await {
                    tracing::error!(error = %e, "office API stopped");
                }
            });
        }
        tokio::select! {
            () = server.run() => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
        }
        Ok(())
    }
}

async fn user(c: &Storage, data: &Path, json: bool, command: UserCommand) -> anyhow::Result<()> {
    let names = |l: &[LocationId]| l.iter().map(ToString::to_string).collect::<Vec<String>>();
    match command {
        UserCommand::Add { name, role, locations } => {
            let locations = names(&locations);
            // Checked before the password is asked for.
            users::check_role(c, role, &locations).await?;
            let password = password(&name)?;
            users::add_as(c, &name, &password, role, &locations, chrono::Utc::now()).await?;
            let access = users::Access { user: name.clone(), role, locations };
            audit::record_cli(c, "add a user", &format!("user add {name} ({})", access.describe())).await?;
            println!("added {name} as {}", access.describe());
        }
        UserCommand::SetRole { name, role, locations } => {
            let access = users::set_role(c, &name, role, &names(&locations)).await.map_err(|e| match e {
                users::UserError::Unknown(n) => anyhow::anyhow!("no user {n}: `user list` lists them"),
                e => e.into(),
            })?;
            audit::record_cli(
                c,
                "change a user's role",
                &format!("user set-role {name} ({})", access.describe()),
            )
            .await?;
            println!("{name} is now {}", access.describe());
        }
        UserCommand::Remove { name } => {
            users::remove(c, &name).await.map_err(|e| match e {
                users::UserError::Unknown(n) => anyhow::anyhow!("no user {n}: `user list` lists them"),
                e => e.into(),
            })?;
            audit::record_cli(c, "remove a user", &format!("user remove {name}")).await?;
            println!("removed {name}");
        }
        UserCommand::List => {
            let all = users::list(c).await?;
            let table: Vec<Vec<String>> = all
                .iter()
                .map(|a| {
                    let at = if a.locations.is_empty() { "-".to_owned() } else { a.locations.join(", ") };
                    vec![a.user.clone(), a.role.to_string(), at]
                })
                .collect();
            let empty = format!(
                "no users yet: add one with `waybill-server --data {} user add NAME`",
                data.display()
            );
            print_rows(json, &all, &["user", "role", "locations"], table, &empty)?;
        }
    }
    Ok(())
}

/// The new user's password: WAYBILL_PASSWORD; else typed at the terminal
/// (not shown, asked twice); else the first line of standard input.
fn password(name: &str) -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("WAYBILL_PASSWORD") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))?;
        let again = rpassword::prompt_password("the same again: ")?;
        if first != again {
            bail!("the two passwords differ: run `user add {name}` again");
        }
        return Ok(first);
    }
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line)? == 0 {
        bail!(
            "no password: type it at a terminal, give it as the first line of standard input, \
             or set WAYBILL_PASSWORD"
        );
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn import(database: &Database, file: &Path) -> anyhow::Result<()> {
    let done = waybill_sync_server::import::import(database, file, |p, secs| {
        if p.created + p.skipped >= 10 * waybill_sync_server::import::BATCH as u64 {
            eprintln!(
                "{} document(s) imported, {} skipped, {:.0} s, {:.0}/s",
                p.created,
                p.skipped,
                secs,
                p.created as f64 / secs.max(1e-3)
            );
        }
    })
    .await?;
    if done.created == 0 {
        println!("nothing imported: every document in {} is held already", file.display());
    } else {
        let named: Vec<String> = done.first.iter().map(ToString::to_string).collect();
        let more = if done.created > named.len() as u64 {
            format!(" and {} more", done.created - named.len() as u64)
        } else {
            String::new()
        };
        println!("imported {} document(s): {}{more}", done.created, named.join(", "));
    }
    Ok(())
}

async fn query(
    storage: &Storage,
    json: bool,
    listing: Listing,
    columns: &[&str],
    empty: &str,
) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut table = Vec::new();
    for row in storage.listing(listing).await? {
        let obj: serde_json::Map<String, serde_json::Value> = columns
            .iter()
            .zip(row.columns())
            .map(|(k, (_, v))| {
                let v = match v {
                    storage::Value::Integer(i) => serde_json::Value::from(*i),
                    storage::Value::Text(t) => serde_json::Value::from(t.as_str()),
                    storage::Value::Real(f) => serde_json::Value::from(*f),
                    _ => serde_json::Value::Null,
                };
                ((*k).to_owned(), v)
            })
            .collect();
        table.push(columns.iter().map(|k| cell(&obj[*k])).collect());
        out.push(serde_json::Value::Object(obj));
    }
    print_rows(json, &out, columns, table, empty)
}

/// A value as a person reads it: text without quotes, a JSON list (an
/// exception's events) as its items.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => match serde_json::from_str::<Vec<String>>(s) {
            Ok(items) => items.join(", "),
            Err(_) => s.clone(),
        },
        serde_json::Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Prints `rows` as JSON, or `table` as aligned columns under `header`, or
/// `empty` when there is nothing.
fn print_rows<T: serde::Serialize>(
    json: bool,
    rows: &[T],
    header: &[&str],
    table: Vec<Vec<String>>,
    empty: &str,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rows)?);
        return Ok(());
    }
    if table.is_empty() {
        println!("{empty}");
        return Ok(());
    }
    let header: Vec<String> = header.iter().map(|h| h.replace('_', " ")).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &table {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&table) {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn a_cell_is_plain_words() {
        // An exception's events are stored as a JSON list: shown as its items.
        assert_eq!(cell(&serde_json::json!("[\"hh-1:2\",\"hh-2:5\"]")), "hh-1:2, hh-2:5");
        assert_eq!(cell(&serde_json::json!("Ada Lovelace")), "Ada Lovelace");
        assert_eq!(cell(&serde_json::json!(3)), "3");
        assert_eq!(cell(&serde_json::Value::Null), "-");
    }
}

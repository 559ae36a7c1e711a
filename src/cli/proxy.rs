//! `smv serve`, `smv login`, `smv logout`.

use std::collections::HashMap;
use std::time::Duration;

use super::args::ServeArgs;
use super::input;
use super::output::{Out, Said};
use crate::client::Client;
use crate::identity::{self, PassphrasePrompt};
use crate::server::{self, ServeOptions};
use crate::settings::Settings;
use crate::{Error, Result, clock};

pub fn serve(
    settings: Settings,
    a: ServeArgs,
    out: &Out,
    prompt: &dyn PassphrasePrompt,
) -> Result<()> {
    let mut uids = HashMap::new();
    for pair in &a.uids {
        let (uid, member) = pair
            .split_once('=')
            .and_then(|(u, m)| Some((u.parse::<u32>().ok()?, m)))
            .ok_or_else(|| {
                Error::invalid("--uid", format!("`{pair}` is not UID=MEMBER"))
                    .with_hint("e.g. --uid 1001=joe (`id -u joe` prints the uid)")
            })?;
        crate::ops::check_name("member", member)?;
        uids.insert(uid, member.to_string());
    }
    if !uids.is_empty() && a.socket.is_none() {
        return Err(
            Error::invalid("--uid", "uids are known only on a Unix socket")
                .with_hint("add --socket PATH"),
        );
    }
    let seconds = |what: &str, v: &str| -> Result<u64> {
        if v.trim() == "0" {
            return Ok(0);
        }
        let s =
            clock::parse_duration(v).map_err(|e| e.with_hint(format!("{what}: e.g. 30s, 2m")))?;
        Ok(s.max(0) as u64)
    };
    let queue_every = seconds("--queue-every", &a.queue_every)?;
    let opts = ServeOptions {
        listen: a.listen,
        socket: a.socket,
        tls: a.tls_cert.zip(a.tls_key),
        uids,
        max_connections: a.max_connections,
        request_timeout: Duration::from_secs(
            seconds("--request-timeout", &a.request_timeout)?.max(1),
        ),
        queue_interval: (queue_every > 0).then(|| Duration::from_secs(queue_every)),
    };
    let identity = identity::resolve(&settings, prompt)?;
    let json = out.json;
    server::serve(settings, identity, opts, |l| {
        // One line on stdout when the server accepts connections (scripts wait for it);
        // the logs go to stderr.
        if json {
            // One line, so that a script can read it with `read`/`head -1`.
            out.raw(&format!("{}\n", super::output::json_line(l)));
        } else {
            out.say(format!(
                "smv serve: listening on {} as {}",
                l.urls.join(", "),
                l.member
            ));
        }
    })
}

/// `smv login SERVER`: checks the token with the server, then keeps it in the OS keyring,
/// or with `--file` in `server-tokens.json` (0600). Without a usable keyring and without
/// `--file`, a clear refusal (exit 6) that names the file fallback.
pub fn login(
    settings: &Settings,
    server: &str,
    token_stdin: bool,
    to_file: bool,
    out: &Out,
) -> Result<()> {
    let no_keyring = |why: String| Error::NoKeyring {
        server: server.to_string(),
        why,
        file: settings.server_tokens.clone(),
    };
    if !to_file && !settings.keyring {
        // Said before the token is typed.
        return Err(no_keyring(
            "the keyring is turned off (SMV_KEYRING or `keyring = false`)".into(),
        ));
    }
    let token = input::read_secret(token_stdin, None, &format!("API token for {server}"))?;
    token.require_shape(crate::secret::Shape::Line, "token")?;
    // Check it before keeping it: a typo is reported now, not at the next post.
    let copy = token.duplicate();
    let mut client = Client::new(server, settings.server_ca.as_deref(), Some(copy))?;
    let me = client.whoami()?;
    let kept = if to_file {
        crate::identity::token_file::store(&settings.server_tokens, server, &token)?;
        format!("{} (mode 0600)", settings.server_tokens.display())
    } else {
        crate::identity::keyring::store_token(server, &token).map_err(no_keyring)?;
        "the OS keyring".to_string()
    };
    out.show(&Said::lines(
        &serde_json::json!({"server": server, "member": me.member, "via": me.channel, "kept_in": kept}),
        vec![
            format!(
                "Logged in to {server} as {} ({}); the token is kept in {kept}",
                me.member, me.channel
            ),
            format!(
                "Use it with: export SMV_SERVER={server}   (or server = \"{server}\" in config.toml)"
            ),
        ],
    ));
    Ok(())
}

/// Forgets the token kept for `server`, in the keyring and in the token file.
pub fn logout(settings: &Settings, server: &str, out: &Out) -> Result<()> {
    let in_file = crate::identity::token_file::delete(&settings.server_tokens, server)?;
    let in_keyring = if settings.keyring {
        crate::identity::keyring::delete_token(server)
            .map_err(|why| Error::invalid("keyring", why))?
    } else {
        false
    };
    let forgot = in_file || in_keyring;
    out.show(&Said::new(
        &serde_json::json!({"server": server, "forgot": forgot}),
        if forgot {
            format!(
                "Forgot the token for {server} (it stays valid until revoked: `smv token revoke`)"
            )
        } else {
            format!("No token was stored for {server}")
        },
    ));
    Ok(())
}

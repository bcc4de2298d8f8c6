//! A workspace's origin: the one rule deciding which hosts may receive a token. The
//! environment file's check and the API client both apply it, so the host a token is sent to
//! is the host that was checked.

/// Why a workspace URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost {
    /// Plain http to a host that is not a loopback address (the client reports it as insecure).
    pub insecure: bool,
    /// What is wrong, quoting the URL with any user information masked.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

/// Parses a workspace URL (a bare host name means `https://`) into its normalised origin:
/// `scheme://host[:port]`, host lower-case, no default port. Refused: user information
/// (`user@`, which also hides the real host, as in `http://127.0.0.1@example.com`), a path,
/// query or fragment (a workspace is an origin), schemes other than https, and plain http to
/// anything but a loopback address. The config check and the API client both use it, so the
/// host a token is sent to is the host that was checked.
pub fn parse_origin(raw: &str) -> Result<String, BadHost> {
    let raw = raw.trim();
    let shown = mask_userinfo(raw);
    let bad = |message: String, help: &str| BadHost {
        insecure: false,
        message,
        help: help.to_string(),
    };
    let not_a_url = || {
        bad(
            format!("`{shown}` is not a workspace URL"),
            "write https://<workspace-host> (or local:<name> for an embedded workspace)",
        )
    };
    // Without a scheme, `url` would read `localhost:8001` as scheme `localhost`.
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|_| not_a_url())?;
    let scheme = url.scheme().to_string();
    if scheme != "https" && scheme != "http" {
        return Err(bad(
            format!("`{shown}` has unsupported scheme `{scheme}`"),
            "use https://<workspace-host>",
        ));
    }
    if has_userinfo(&with_scheme) || !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            format!("`{shown}` contains user information (`…@`) before the host"),
            "write only https://<workspace-host>: credentials never go in the URL (use token_env or profile), and whatever precedes `@` is not the host the request goes to",
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(not_a_url());
    };
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            format!("`{shown}` has a path, query or fragment; a workspace host is an origin"),
            "write only the scheme and host (and port), e.g. https://adb-1234567890123456.7.azuredatabricks.net, without `/…`, `?o=…` or `#…`",
        ));
    }
    if scheme == "http" && !is_loopback(host) {
        return Err(BadHost {
            insecure: true,
            message: format!("`{shown}` uses plain http to a non-loopback host"),
            help: "tokens must not cross the network unencrypted; use https://".to_string(),
        });
    }
    Ok(url.origin().ascii_serialization())
}

/// Whether a host (as a URL writes it: `127.0.0.1`, `[::1]`, `localhost`) is a loopback
/// address: `127.0.0.0/8`, `::1`, or the name `localhost` itself (not `localhost.example` nor
/// `127.example`: only an address parsed as one is trusted).
pub fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the authority of `url` (between `://` and the first `/`, `\`, `?` or `#`) holds an
/// `@`, even an empty user information that `url` would drop silently. Such a host may hold a
/// password, so the loader keeps it out of diagnostics' excerpts too.
pub fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '\\', '?', '#'])
        .next()
        .is_some_and(|authority| authority.contains('@'))
}

/// `raw` with any user information replaced by `***`, so a password written into a host never
/// reaches a message.
fn mask_userinfo(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => raw.to_string(),
    }
}

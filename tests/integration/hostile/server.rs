//! A malicious server on 127.0.0.1: redirects, huge bodies, hosts that are not what they seem,
//! credentials bound to their host.

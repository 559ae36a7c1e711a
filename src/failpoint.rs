//! Crash and failure injection for tests, compiled into debug builds only.
//!
//! `SMV_FAILPOINT=NAME:ACTION` makes the named point abort the process (as kill -9 would
//! leave it), fail with an I/O error or an internal one, or sleep. Release builds ignore the variable entirely,
//! so it cannot be used to disturb a production smv.

use crate::Result;

#[cfg(debug_assertions)]
pub fn hit(name: &str) -> Result<()> {
    let Ok(spec) = std::env::var("SMV_FAILPOINT") else {
        return Ok(());
    };
    for point in spec.split(',') {
        let Some((point_name, action)) = point.split_once(':') else {
            continue;
        };
        if point_name != name {
            continue;
        }
        match action {
            "abort" => std::process::abort(),
            // A bug's error, to show how one is reported.
            "internal" => {
                return Err(crate::Error::Internal(format!(
                    "injected at failpoint {name}"
                )));
            }
            "error" => {
                return Err(crate::Error::io(
                    "reach failpoint",
                    name,
                    std::io::Error::other("injected failure"),
                ));
            }
            other => {
                if let Some(ms) = other.strip_prefix("sleep").and_then(|m| m.parse().ok()) {
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                }
            }
        }
    }
    Ok(())
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn hit(_name: &str) -> Result<()> {
    Ok(())
}

//! The `media_urls` cell: splitting it into URLs, checking each URL (see [`super::ssrf`]) and
//! the number and kinds of media against each target platform. Kinds come from the URL's file
//! extension; when one is unknown only the count is checked.

use tenants::{MediaKind, Platform, ValidationError, validate_media, validate_media_count};

use super::ssrf::check_media_url;

/// Splits a media cell on `|` and whitespace, and on `,`/`;` directly followed by a URL.
pub fn split_media(cell: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for piece in cell.split(|c: char| c == '|' || c.is_whitespace()) {
        let mut start = 0;
        for (i, c) in piece.char_indices() {
            let rest = piece[i + c.len_utf8()..].trim_start().to_ascii_lowercase();
            if matches!(c, ',' | ';')
                && (rest.starts_with("http://") || rest.starts_with("https://"))
            {
                out.push(&piece[start..i]);
                start = i + 1;
            }
        }
        out.push(&piece[start..]);
    }
    out.into_iter()
        .map(|s| s.trim_matches(|c: char| c == ',' || c == ';' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Checks the URLs of a media cell and their number and kinds for each platform. Returns the
/// URLs as written and the problems as `(value, message)`.
pub fn check_media(cell: &str, platforms: &[Platform]) -> (Vec<String>, Vec<(String, String)>) {
    let urls: Vec<&str> = split_media(cell);
    let mut problems = Vec::new();
    let mut kinds = Vec::new();
    for url in &urls {
        match check_media_url(url) {
            Ok(parsed) => kinds.push(MediaKind::from_extension(parsed.path())),
            Err(e) => problems.push((url.to_string(), format!("{}: {e}", super::echo(url)))),
        }
    }
    let known: Option<Vec<MediaKind>> = kinds.iter().copied().collect();
    for &platform in platforms {
        let checked: Result<(), ValidationError> = match &known {
            Some(kinds) if kinds.len() == urls.len() => validate_media(platform, kinds),
            _ => validate_media_count(platform, urls.len()),
        };
        if let Err(e) = checked {
            problems.push((cell.to_string(), e.to_string()));
        }
    }
    (urls.into_iter().map(str::to_string).collect(), problems)
}

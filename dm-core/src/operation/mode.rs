//! Permission modes as operations take them: octal bits (`0o640`) or chmod's symbolic form
//! (`u=rw,g=r,o=`, `u+x`, `go-w`, `a=rX`).

/// A mode asked for: bits, or symbolic clauses applied to the mode the path has (or, for a new
/// path, to the default: 0644 for a file, 0755 for a directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModeSpec {
    /// Exactly these bits.
    Bits(u32),
    /// chmod's symbolic clauses, checked by [`ModeSpec::parse`].
    Symbolic(String),
}

/// Bits of the classes `u`, `g`, `o`.
const CLASSES: [(char, u32); 3] = [('u', 0o700), ('g', 0o070), ('o', 0o007)];

impl ModeSpec {
    /// Reads chmod's notation: octal digits (`0640`, `640`) or symbolic clauses. The error says
    /// what is wrong, for the operation to report.
    pub(crate) fn parse(text: &str) -> Result<ModeSpec, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            let bits = u32::from_str_radix(text, 8).map_err(|e| e.to_string())?;
            if bits > 0o7777 {
                return Err(format!("mode {text} has more than four octal digits"));
            }
            return Ok(ModeSpec::Bits(bits));
        }
        // Checked by applying it once.
        apply_symbolic(text, 0o644, false)?;
        Ok(ModeSpec::Symbolic(text.to_string()))
    }

    /// Checks bits given as a number: a value that reads as a sensible mode when its decimal
    /// digits are taken as octal (`644`, `444`) but is an odd one as a number (`644` is
    /// 0o1204, `444` is 0o674) was almost surely written in decimal.
    pub(crate) fn check_bits(mode: u32) -> Result<(), String> {
        let decimal = mode.to_string();
        let reads_as_octal = (3..=4).contains(&decimal.len())
            && decimal.bytes().all(|b| (b'0'..=b'7').contains(&b))
            && u32::from_str_radix(&decimal, 8).is_ok_and(plausible);
        if mode > 0o7777 || (reads_as_octal && !plausible(mode)) {
            return Err(format!(
                "mode {mode:o} (octal) is not what you meant: {mode} is decimal; write modes in octal, .mode(0o{mode}), or as text, .chmod(\"{mode}\")"
            ));
        }
        Ok(())
    }

    /// The mode wanted for a path whose mode is `current` (`None`: it is created now).
    pub(crate) fn resolve(&self, current: Option<u32>, dir: bool) -> u32 {
        match self {
            ModeSpec::Bits(b) => *b,
            ModeSpec::Symbolic(s) => {
                let base = current.unwrap_or(if dir { 0o755 } else { 0o644 });
                apply_symbolic(s, base, dir).unwrap_or(base)
            }
        }
    }
}

/// Whether `mode` is a mode people use: no class may write without reading, the group has no
/// more than the owner, others no more than the group, and no sticky bit on a file.
fn plausible(mode: u32) -> bool {
    let (u, g, o) = ((mode >> 6) & 7, (mode >> 3) & 7, mode & 7);
    let writes_blind = [u, g, o].iter().any(|c| c & 2 != 0 && c & 4 == 0);
    mode & 0o1000 == 0 && !writes_blind && g & !u == 0 && o & !g == 0
}

/// Applies chmod's symbolic clauses to `mode`, as GNU chmod does, except that a clause
/// without `u`, `g`, `o` or `a` means `a` without looking at a umask (the result must not
/// depend on the host's umask).
pub(crate) fn apply_symbolic(text: &str, mode: u32, dir: bool) -> Result<u32, String> {
    let mut mode = mode;
    if text.is_empty() {
        return Err("the mode is empty".to_string());
    }
    for clause in text.split(',') {
        let bad = |why: &str| {
            format!(
                "`{clause}` in mode `{text}` {why}; write it like chmod does: u=rw,g=r,o= or u+x"
            )
        };
        let who_len = clause
            .find(|c: char| !"ugoa".contains(c))
            .ok_or_else(|| bad("has no +, - or ="))?;
        let who = &clause[..who_len];
        let mut mask = 0;
        for c in who.chars() {
            mask |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                _ => 0o7777,
            };
        }
        if who.is_empty() {
            mask = 0o7777;
        }
        let mut rest = &clause[who_len..];
        if rest.is_empty() {
            return Err(bad("has no +, - or ="));
        }
        while let Some(op) = rest.chars().next() {
            if !"+-=".contains(op) {
                return Err(bad("has an unknown operator"));
            }
            rest = &rest[1..];
            let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let perms = &rest[..end];
            rest = &rest[end..];
            let mut bits = 0;
            if perms.len() == 1 && "ugo".contains(perms) {
                // Copy another class's permissions (`g=u`).
                let (_, class) = CLASSES
                    .iter()
                    .find(|(c, _)| perms.starts_with(*c))
                    .copied()
                    .unwrap_or(('u', 0o700));
                let shift = class.trailing_zeros();
                let rwx = (mode & class) >> shift;
                bits = rwx * 0o111;
            } else {
                for p in perms.chars() {
                    bits |= match p {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        'X' if dir || mode & 0o111 != 0 => 0o111,
                        'X' => 0,
                        's' => 0o6000,
                        't' => 0o1000,
                        _ => return Err(bad("has an unknown permission letter")),
                    };
                }
            }
            let bits = bits & mask;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                // `=` clears what the classes named had (not a directory's setuid/setgid bits,
                // as chmod keeps them), then sets.
                _ => {
                    let keep = if dir { 0o6000 } else { 0 };
                    (mode & !(mask & !keep)) | bits
                }
            };
        }
    }
    Ok(mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes_apply_as_chmod_does() {
        let f = |s: &str, m: u32| apply_symbolic(s, m, false).expect(s);
        assert_eq!(f("u=rw,g=r,o=r", 0o777), 0o644);
        assert_eq!(f("u=rw,g=r,o=", 0o777), 0o640);
        assert_eq!(f("u+x", 0o644), 0o744);
        assert_eq!(f("go-w", 0o666), 0o644);
        assert_eq!(f("a=rX", 0o600), 0o444);
        assert_eq!(f("a=rX", 0o700), 0o555);
        assert_eq!(apply_symbolic("a=rX", 0o600, true), Ok(0o555));
        assert_eq!(f("g=u", 0o640), 0o660);
        assert_eq!(f("u+s,o+t", 0o755), 0o5755);
        assert_eq!(f("=r", 0o777), 0o444);
        assert_eq!(f("u=rwx,g+rx-w", 0o020), 0o750);
        for bad in ["", "u", "u*r", "u=rq", "rw"] {
            assert!(apply_symbolic(bad, 0o644, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_modes_are_octal_or_symbolic() {
        assert_eq!(ModeSpec::parse("0640"), Ok(ModeSpec::Bits(0o640)));
        assert_eq!(ModeSpec::parse("640"), Ok(ModeSpec::Bits(0o640)));
        assert!(ModeSpec::parse("17777").is_err());
        assert!(ModeSpec::parse("u=rw,x").is_err());
        let s = ModeSpec::parse("u=rw,g=r,o=r").expect("symbolic");
        assert_eq!(s.resolve(Some(0o600), false), 0o644);
        let s = ModeSpec::parse("u+x").expect("symbolic");
        assert_eq!(s.resolve(None, false), 0o744);
        assert_eq!(s.resolve(Some(0o600), false), 0o700);
    }

    #[test]
    fn decimal_looking_modes_are_refused_and_octal_ones_accepted() {
        for decimal in [444, 644, 400, 440, 600, 755, 640, 777] {
            assert!(ModeSpec::check_bits(decimal).is_err(), "{decimal}");
        }
        for octal in [
            0o644, 0o444, 0o400, 0o440, 0o600, 0o755, 0o640, 0o777, 0o4755, 0o711, 0o1777, 0o2775,
            0o664, 0o555, 0o750, 0o700, 0o660, 0o775, 0o770, 0o0,
        ] {
            assert!(ModeSpec::check_bits(octal).is_ok(), "{octal:o}");
        }
    }
}

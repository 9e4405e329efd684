//! A crate's module tree read from its files, starting at `src/lib.rs`: for each module its file,
//! child modules, the names it defines, its `use` bindings and the paths its code names inline.
//! Test-only modules (`#[cfg(test)]`) are left out: tests may import what they test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::lexer::{Token, tokens};

/// One module of a crate: a file, or an inline `mod name { .. }` inside one.
#[derive(Debug, Default)]
pub struct Module {
    /// The module's path below the crate root (empty for the root).
    pub path: Vec<String>,
    /// The file the module is written in, relative to the repository.
    pub file: String,
    /// The parent module's index in [`Crate::modules`] (None for the root).
    pub parent: Option<usize>,
    /// Child modules by name.
    pub children: BTreeMap<String, usize>,
    /// Names of items written in the module (functions, types, constants, macros, ...).
    pub defines: BTreeSet<String>,
    /// `use` declarations, one binding each.
    pub uses: Vec<UseBinding>,
    /// Paths with `::` the module's code names outside `use` declarations.
    pub inline_paths: Vec<Vec<String>>,
}

/// One name a `use` declaration brings into scope.
#[derive(Debug, Clone)]
pub struct UseBinding {
    /// The name in scope (`*` for a glob import, `_` for `as _`).
    pub name: String,
    /// The path as written, e.g. `["super", "record", "Record"]`.
    pub target: Vec<String>,
}

/// A library crate's modules; index 0 is the crate root.
#[derive(Debug)]
pub struct Crate {
    /// The crate's directory name, e.g. `dm-core`.
    pub name: String,
    pub modules: Vec<Module>,
}

impl Crate {
    /// Reads the crate whose library root is `<repo>/<name>/src/lib.rs`.
    pub fn read(repo: &Path, name: &str) -> Crate {
        let mut krate = Crate {
            name: name.to_string(),
            modules: Vec::new(),
        };
        let root = PathBuf::from(name).join("src/lib.rs");
        krate.read_file(repo, &root, Vec::new(), None, true);
        krate
    }

    /// Reads one module file (and, through its `mod name;` lines, the files below it).
    fn read_file(
        &mut self,
        repo: &Path,
        file: &Path,
        path: Vec<String>,
        parent: Option<usize>,
        owns_directory: bool,
    ) -> usize {
        let source = std::fs::read_to_string(repo.join(file))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        // Where `mod child;` files live: beside a mod.rs/lib.rs, or in a folder named like the file.
        let directory = if owns_directory {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        let index = self.new_module(path, file, parent);
        let tokens = tokens(&source);
        let mut scan = Scan {
            krate: self,
            repo,
            file,
            tokens: &tokens,
            at: 0,
        };
        scan.module_body(index, &directory, false);
        index
    }

    fn new_module(&mut self, path: Vec<String>, file: &Path, parent: Option<usize>) -> usize {
        let index = self.modules.len();
        if let (Some(parent), Some(name)) = (parent, path.last()) {
            self.modules[parent].children.insert(name.clone(), index);
        }
        self.modules.push(Module {
            path,
            file: file.to_string_lossy().into_owned(),
            parent,
            ..Module::default()
        });
        index
    }
}

const ITEM_KEYWORDS: &[&str] = &[
    "fn", "struct", "enum", "trait", "type", "const", "static", "union",
];

struct Scan<'a> {
    krate: &'a mut Crate,
    repo: &'a Path,
    file: &'a Path,
    tokens: &'a [Token],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self, ahead: usize) -> Option<&'a Token> {
        self.tokens.get(self.at + ahead)
    }

    fn name_at(&self, ahead: usize) -> Option<&str> {
        match self.peek(ahead) {
            Some(Token::Name(n)) => Some(n),
            _ => None,
        }
    }

    /// Reads tokens into module `index` up to the `}` that closes it (or the end of the file).
    fn module_body(&mut self, index: usize, directory: &Path, inline: bool) {
        let mut depth = 0usize;
        let mut test_only = false;
        while let Some(token) = self.peek(0).cloned() {
            match token {
                Token::Punct('#') => {
                    if self.attribute_is_cfg_test() {
                        test_only = true;
                    }
                    continue;
                }
                Token::Punct('{') => depth += 1,
                Token::Punct('}') => {
                    if depth == 0 && inline {
                        self.at += 1;
                        return;
                    }
                    depth = depth.saturating_sub(1);
                }
                Token::Name(ref name) => {
                    if test_only {
                        self.skip_item();
                        test_only = false;
                        continue;
                    }
                    match name.as_str() {
                        "use" => {
                            self.at += 1;
                            let mut bindings = Vec::new();
                            self.use_tree(Vec::new(), &mut bindings);
                            for (name, target) in bindings {
                                self.krate.modules[index]
                                    .uses
                                    .push(UseBinding { name, target });
                            }
                            continue;
                        }
                        "mod" => {
                            if let Some(child) = self.name_at(1).map(str::to_string) {
                                self.child_module(index, directory, child);
                                continue;
                            }
                        }
                        "macro_rules" => {
                            if let Some(defined) = self.name_at(2).map(str::to_string) {
                                self.krate.modules[index].defines.insert(defined);
                            }
                        }
                        keyword if ITEM_KEYWORDS.contains(&keyword) => {
                            if let Some(defined) = self.name_at(1).map(str::to_string) {
                                self.krate.modules[index].defines.insert(defined);
                            }
                        }
                        _ => {
                            if self.at == 0 || self.tokens[self.at - 1] != Token::PathSep {
                                self.inline_path(index);
                                continue;
                            }
                        }
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
    }

    /// Skips an attribute (`#[..]` or `#![..]`) and says whether it is `cfg(test)`.
    fn attribute_is_cfg_test(&mut self) -> bool {
        self.at += 1;
        if self.peek(0) == Some(&Token::Punct('!')) {
            self.at += 1;
        }
        let start = self.at;
        self.skip_group();
        let inside = &self.tokens[start..self.at];
        if inside.iter().any(|t| *t == Token::Name("path".into()))
            && inside.get(2) == Some(&Token::Punct('='))
        {
            panic!(
                "{}: #[path] attributes are not followed by this check; teach it or drop the attribute",
                self.file.display()
            );
        }
        inside
            == [
                Token::Punct('['),
                Token::Name("cfg".into()),
                Token::Punct('('),
                Token::Name("test".into()),
                Token::Punct(')'),
                Token::Punct(']'),
            ]
    }

    /// Skips a bracketed group starting at the current token (`(..)`, `[..]` or `{..}`).
    fn skip_group(&mut self) {
        let mut depth = 0usize;
        while let Some(token) = self.peek(0) {
            self.at += 1;
            match token {
                Token::Punct('(' | '[' | '{') => depth += 1,
                Token::Punct(')' | ']' | '}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// Skips one item: up to its `;`, or through its `{ .. }` body.
    fn skip_item(&mut self) {
        while let Some(token) = self.peek(0) {
            match token {
                Token::Punct(';') => {
                    self.at += 1;
                    return;
                }
                Token::Punct('{') => {
                    self.skip_group();
                    return;
                }
                Token::Punct('(' | '[') => self.skip_group(),
                _ => self.at += 1,
            }
        }
    }

    /// `mod name;` (a file) or `mod name { .. }` (inline), at the `mod` token.
    fn child_module(&mut self, parent: usize, directory: &Path, name: String) {
        self.at += 2;
        let mut path = self.krate.modules[parent].path.clone();
        path.push(name.clone());
        match self.peek(0) {
            Some(Token::Punct(';')) => {
                self.at += 1;
                let flat = directory.join(format!("{name}.rs"));
                let nested = directory.join(&name).join("mod.rs");
                let (file, owns_directory) = if self.repo.join(&flat).exists() {
                    (flat, false)
                } else if self.repo.join(&nested).exists() {
                    (nested, true)
                } else {
                    panic!(
                        "{}: no file for `mod {name};` ({} or {})",
                        self.file.display(),
                        flat.display(),
                        nested.display()
                    );
                };
                self.krate
                    .read_file(self.repo, &file, path, Some(parent), owns_directory);
            }
            Some(Token::Punct('{')) => {
                self.at += 1;
                let index = self.krate.new_module(path, self.file, Some(parent));
                self.module_body(index, &directory.join(&name), true);
            }
            _ => {}
        }
    }

    /// Reads a use tree after `use` (or after a `prefix::{`), through its `;` or `,`/`}`.
    fn use_tree(&mut self, prefix: Vec<String>, bindings: &mut Vec<(String, Vec<String>)>) {
        let mut path = prefix;
        loop {
            match self.peek(0).cloned() {
                Some(Token::Name(name)) if name == "as" => {
                    let alias = self.name_at(1).unwrap_or("_").to_string();
                    self.at += 2;
                    bindings.push((alias, path.clone()));
                    path.clear();
                }
                Some(Token::Name(name)) => {
                    path.push(name);
                    self.at += 1;
                }
                Some(Token::PathSep) => self.at += 1,
                Some(Token::Punct('*')) => {
                    self.at += 1;
                    bindings.push(("*".to_string(), path.clone()));
                    path.clear();
                }
                Some(Token::Punct('{')) => {
                    self.at += 1;
                    loop {
                        self.use_tree(path.clone(), bindings);
                        match self.peek(0) {
                            Some(Token::Punct(',')) => self.at += 1,
                            Some(Token::Punct('}')) => {
                                self.at += 1;
                                break;
                            }
                            _ => break,
                        }
                        if self.peek(0) == Some(&Token::Punct('}')) {
                            self.at += 1;
                            break;
                        }
                    }
                    path.clear();
                }
                Some(Token::Punct(';')) => {
                    self.at += 1;
                    self.bind(path, bindings);
                    return;
                }
                Some(Token::Punct(',' | '}')) | None => {
                    self.bind(path, bindings);
                    return;
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// The binding of a use path that ends without `as`: its last name (`a::b::{self}` binds `b`).
    fn bind(&self, mut path: Vec<String>, bindings: &mut Vec<(String, Vec<String>)>) {
        if path.last().is_some_and(|last| last == "self") && path.len() > 1 {
            path.pop();
        }
        if let Some(last) = path.last() {
            bindings.push((last.clone(), path));
        }
    }

    /// A name in code, and the `::` path it starts if any.
    fn inline_path(&mut self, index: usize) {
        let mut segments = Vec::new();
        while let Some(name) = self.name_at(0).map(str::to_string) {
            segments.push(name);
            self.at += 1;
            if self.peek(0) == Some(&Token::PathSep) && self.name_at(1).is_some() {
                self.at += 1;
            } else {
                break;
            }
        }
        if segments.len() > 1 {
            self.krate.modules[index].inline_paths.push(segments);
        }
    }
}

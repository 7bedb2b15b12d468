//! The typed syntax tree of a Cypher statement.
//!
//! Names are kept as written (identifiers are case-sensitive in Cypher; keywords and
//! function names are not, and function names are stored lower-cased). Every expression
//! the parser can produce can be printed back by [`crate::print`] into text that parses to
//! the same tree.

/// A whole statement: one query, optionally prefixed by `EXPLAIN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `EXPLAIN` was given: plan, do not run.
    pub explain: bool,
    /// The query.
    pub query: Query,
}

/// A query: single queries joined by `UNION [ALL]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The first part.
    pub first: SingleQuery,
    /// Further parts, each with whether it was `UNION ALL`.
    pub unions: Vec<(bool, SingleQuery)>,
}

/// A sequence of clauses.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleQuery {
    /// The clauses, in order.
    pub clauses: Vec<Clause>,
}

/// One clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    /// `[OPTIONAL] MATCH pattern [WHERE expr]`.
    Match(Match),
    /// `UNWIND expr AS var`.
    Unwind {
        /// The list.
        expr: Expr,
        /// The variable bound to each element.
        var: String,
    },
    /// `WITH projection [WHERE expr]`.
    With(Projection),
    /// `RETURN projection`.
    Return(Projection),
    /// `CREATE pattern`.
    Create(Vec<PatternPart>),
    /// `MERGE part [ON CREATE SET …] [ON MATCH SET …]`.
    Merge(Merge),
    /// `SET item, …`.
    Set(Vec<SetItem>),
    /// `REMOVE item, …`.
    Remove(Vec<RemoveItem>),
    /// `[DETACH] DELETE expr, …`.
    Delete {
        /// `DETACH` was given.
        detach: bool,
        /// What to delete.
        exprs: Vec<Expr>,
    },
}

/// A `MATCH` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// `OPTIONAL MATCH`.
    pub optional: bool,
    /// Comma-separated pattern parts.
    pub pattern: Vec<PatternPart>,
    /// The filter.
    pub filter: Option<Expr>,
}

/// A `MERGE` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    /// The pattern to find or create.
    pub part: PatternPart,
    /// Actions, in the order written.
    pub actions: Vec<MergeAction>,
}

/// `ON CREATE SET …` or `ON MATCH SET …`.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeAction {
    /// `true` for `ON CREATE`, `false` for `ON MATCH`.
    pub on_create: bool,
    /// The assignments.
    pub items: Vec<SetItem>,
}

/// The body of `WITH` and `RETURN`.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// `DISTINCT`.
    pub distinct: bool,
    /// `*` was given (project every variable in scope, then `items`).
    pub star: bool,
    /// The projected expressions.
    pub items: Vec<ProjectionItem>,
    /// `ORDER BY`.
    pub order: Vec<SortItem>,
    /// `SKIP`.
    pub skip: Option<Expr>,
    /// `LIMIT`.
    pub limit: Option<Expr>,
    /// `WHERE` (only after `WITH`).
    pub filter: Option<Expr>,
}

/// One projected expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionItem {
    /// The expression.
    pub expr: Expr,
    /// `AS alias`.
    pub alias: Option<String>,
    /// The expression's text as written, which names the column when there is no alias.
    pub text: String,
}

impl ProjectionItem {
    /// The column name: the alias, else the expression as written.
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.text)
    }
}

/// One `ORDER BY` key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortItem {
    /// The key.
    pub expr: Expr,
    /// Ascending (the default) or descending.
    pub ascending: bool,
}

/// One assignment of `SET` (and of `MERGE … ON … SET`).
#[derive(Debug, Clone, PartialEq)]
pub enum SetItem {
    /// `target.key = value`.
    Property {
        /// The entity expression.
        target: Expr,
        /// The property.
        key: String,
        /// The new value.
        value: Expr,
    },
    /// `var = map` (replace all properties) or `var += map` (merge).
    Properties {
        /// The variable.
        var: String,
        /// The map expression.
        value: Expr,
        /// `+=`.
        merge: bool,
    },
    /// `var:Label:…`.
    Labels {
        /// The variable.
        var: String,
        /// The labels to add.
        labels: Vec<String>,
    },
}

/// One item of `REMOVE`.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoveItem {
    /// `target.key`.
    Property {
        /// The entity expression.
        target: Expr,
        /// The property.
        key: String,
    },
    /// `var:Label:…`.
    Labels {
        /// The variable.
        var: String,
        /// The labels to remove.
        labels: Vec<String>,
    },
}

/// How a pattern part is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Every matching path.
    All,
    /// `shortestPath(…)`: one shortest path per pair of end points.
    Shortest,
    /// `allShortestPaths(…)`: every shortest path per pair of end points.
    AllShortest,
}

/// One comma-separated part of a pattern, optionally bound to a path variable.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternPart {
    /// `p = …`.
    pub var: Option<String>,
    /// Plain or shortest.
    pub kind: PathKind,
    /// The chain of nodes and relationships.
    pub element: PatternElement,
}

/// `(a)-[r]->(b)<-[s]-(c)…`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternElement {
    /// The first node.
    pub start: NodePattern,
    /// Each following relationship with the node after it.
    pub chain: Vec<(RelPattern, NodePattern)>,
}

/// `(var:Label:… {props})`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodePattern {
    /// The variable.
    pub var: Option<String>,
    /// Labels, all required.
    pub labels: Vec<String>,
    /// A map literal or a parameter.
    pub props: Option<Expr>,
}

/// Which way a relationship pattern points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `-[]->`.
    Right,
    /// `<-[]-`.
    Left,
    /// `-[]-`.
    Both,
}

/// `-[var:T1|T2*min..max {props}]->`.
#[derive(Debug, Clone, PartialEq)]
pub struct RelPattern {
    /// The variable.
    pub var: Option<String>,
    /// Types, any of which matches; empty means any type.
    pub types: Vec<String>,
    /// Direction.
    pub direction: Direction,
    /// `*min..max`; `None` for a single hop.
    pub length: Option<Length>,
    /// A map literal or a parameter.
    pub props: Option<Expr>,
}

/// Variable length bounds: `*` is `{min: None, max: None}`, meaning 1 to unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Length {
    /// The lower bound (default 1).
    pub min: Option<u64>,
    /// The upper bound (default unbounded).
    pub max: Option<u64>,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    String(String),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `NOT`.
    Not,
    /// `-`.
    Neg,
    /// `+`.
    Plus,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `OR`.
    Or,
    /// `XOR`.
    Xor,
    /// `AND`.
    And,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^`.
    Pow,
    /// `IN`.
    In,
    /// `STARTS WITH`.
    StartsWith,
    /// `ENDS WITH`.
    EndsWith,
    /// `CONTAINS`.
    Contains,
    /// `=~`.
    Regex,
}

/// Comparison operators (chains like `a < b <= c` are kept as a chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`.
    Eq,
    /// `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// `any`, `all`, `none`, `single`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// At least one.
    Any,
    /// Every one.
    All,
    /// Not one.
    None,
    /// Exactly one.
    Single,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Literal),
    /// `$name`.
    Param(String),
    /// A variable.
    Var(String),
    /// `expr.key`.
    Prop(Box<Expr>, String),
    /// `expr[index]`.
    Index(Box<Expr>, Box<Expr>),
    /// `expr[from..to]`.
    Slice(Box<Expr>, Option<Box<Expr>>, Option<Box<Expr>>),
    /// `[a, b, …]`.
    List(Vec<Expr>),
    /// `{k: v, …}`.
    Map(Vec<(String, Expr)>),
    /// A unary operator.
    Unary(UnaryOp, Box<Expr>),
    /// A binary operator.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `a op b op c …`: each adjacent pair compared, results joined by `AND`.
    Compare(Box<Expr>, Vec<(CompareOp, Expr)>),
    /// `expr IS [NOT] NULL` (`true` = `IS NULL`).
    IsNull(Box<Expr>, bool),
    /// `expr:Label:…`.
    HasLabels(Box<Expr>, Vec<String>),
    /// A function call (name lower-cased, with its namespace: `toupper`, `a.b.f`).
    Call {
        /// The lower-cased name.
        name: String,
        /// `DISTINCT` inside an aggregate.
        distinct: bool,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `count(*)`.
    CountStar,
    /// `CASE [subject] WHEN … THEN … [ELSE …] END`.
    Case {
        /// The simple form's subject.
        subject: Option<Box<Expr>>,
        /// `WHEN` / `THEN` pairs.
        branches: Vec<(Expr, Expr)>,
        /// `ELSE`.
        otherwise: Option<Box<Expr>>,
    },
    /// `[var IN list WHERE filter | map]`.
    ListComprehension {
        /// The element variable.
        var: String,
        /// The list.
        list: Box<Expr>,
        /// The filter.
        filter: Option<Box<Expr>>,
        /// The projection.
        map: Option<Box<Expr>>,
    },
    /// `[p = pattern WHERE filter | map]`.
    PatternComprehension {
        /// A path variable.
        var: Option<String>,
        /// The pattern.
        pattern: Box<PatternElement>,
        /// The filter.
        filter: Option<Box<Expr>>,
        /// The projection.
        map: Box<Expr>,
    },
    /// `any(var IN list WHERE pred)` and friends.
    Quantified {
        /// Which quantifier.
        kind: Quantifier,
        /// The element variable.
        var: String,
        /// The list.
        list: Box<Expr>,
        /// The predicate.
        filter: Option<Box<Expr>>,
    },
    /// `reduce(acc = init, var IN list | expr)`.
    Reduce {
        /// The accumulator.
        acc: String,
        /// Its initial value.
        init: Box<Expr>,
        /// The element variable.
        var: String,
        /// The list.
        list: Box<Expr>,
        /// The step.
        expr: Box<Expr>,
    },
    /// A pattern used as a predicate: `(a)-[:T]->()`.
    Pattern(Box<PatternElement>),
    /// `EXISTS { MATCH … [WHERE …] }` or `exists((a)-->())`, kept as a pattern match.
    Exists(Box<Match>),
    /// `var { .key, key: expr, .* }`.
    MapProjection {
        /// The variable.
        var: String,
        /// The items.
        items: Vec<MapProjectionItem>,
    },
    /// `shortestPath(…)` / `allShortestPaths(…)` used as an expression.
    ShortestPath(Box<PatternPart>),
}

/// One item of a map projection.
#[derive(Debug, Clone, PartialEq)]
pub enum MapProjectionItem {
    /// `.key`.
    Property(String),
    /// `key: expr`.
    Literal(String, Expr),
    /// `key` (the variable of that name).
    Variable(String),
    /// `.*`.
    All,
}

impl Expr {
    /// Whether the expression contains an aggregate call outside any nested scope.
    pub fn contains_aggregate(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if e.is_aggregate_call() {
                found = true;
            }
        });
        found
    }

    /// Whether this node itself is an aggregate call.
    pub fn is_aggregate_call(&self) -> bool {
        matches!(self, Expr::CountStar) || matches!(self, Expr::Call { name, .. } if is_aggregate(name))
    }

    /// Visits this expression and its sub-expressions, pre-order.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Param(_) | Expr::Var(_) | Expr::CountStar | Expr::Pattern(_) => {}
            Expr::Exists(_) | Expr::ShortestPath(_) | Expr::PatternComprehension { .. } => {}
            Expr::Prop(e, _) | Expr::Unary(_, e) | Expr::IsNull(e, _) | Expr::HasLabels(e, _) => e.walk(f),
            Expr::Index(a, b) | Expr::Binary(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Slice(a, b, c) => {
                a.walk(f);
                b.iter().chain(c.iter()).for_each(|e| e.walk(f));
            }
            Expr::List(items) | Expr::Call { args: items, .. } => items.iter().for_each(|e| e.walk(f)),
            Expr::Map(items) => items.iter().for_each(|(_, e)| e.walk(f)),
            Expr::Compare(first, rest) => {
                first.walk(f);
                rest.iter().for_each(|(_, e)| e.walk(f));
            }
            Expr::Case { subject, branches, otherwise } => {
                subject.iter().for_each(|e| e.walk(f));
                for (w, t) in branches {
                    w.walk(f);
                    t.walk(f);
                }
                otherwise.iter().for_each(|e| e.walk(f));
            }
            Expr::ListComprehension { list, filter, map, .. } => {
                list.walk(f);
                filter.iter().chain(map.iter()).for_each(|e| e.walk(f));
            }
            Expr::Quantified { list, filter, .. } => {
                list.walk(f);
                filter.iter().for_each(|e| e.walk(f));
            }
            Expr::Reduce { init, list, expr, .. } => {
                init.walk(f);
                list.walk(f);
                expr.walk(f);
            }
            Expr::MapProjection { items, .. } => {
                for item in items {
                    if let MapProjectionItem::Literal(_, e) = item {
                        e.walk(f);
                    }
                }
            }
        }
    }
}

/// Whether a (lower-cased) function name is an aggregate.
pub fn is_aggregate(name: &str) -> bool {
    matches!(
        name,
        "count" | "collect" | "sum" | "avg" | "min" | "max" | "stdev" | "stdevp" | "percentilecont" | "percentiledisc"
    )
}

//! parse → print → parse is stable, over generated syntax trees.

use cairn_cypher::ast::*;
use cairn_cypher::parse;
use proptest::prelude::*;

/// Clears the as-written column names, which printing does not preserve.
pub fn strip_text(mut s: Statement) -> Statement {
    let strip = |q: &mut SingleQuery| {
        for c in &mut q.clauses {
            if let Clause::With(p) | Clause::Return(p) = c {
                p.items.iter_mut().for_each(|i| i.text.clear());
            }
        }
    };
    strip(&mut s.query.first);
    s.query.unions.iter_mut().for_each(|(_, q)| strip(q));
    s
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "n", "drug", "x1", "_y"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["with space", "match", "WHERE", "ü名字", "back`tick"]).prop_map(str::to_owned),
    ]
}

fn literal() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(Literal::Int),
        (0.0f64..1e12).prop_map(Literal::Float),
        prop::sample::select(vec![1e-7, 1e300, 0.5]).prop_map(Literal::Float),
        "[a-z '\\\\\"\n\t\u{1}é中]{0,8}".prop_map(Literal::String),
    ]
    .prop_map(Expr::Lit)
}

fn node() -> impl Strategy<Value = NodePattern> {
    (
        prop::option::of(name()),
        prop::collection::vec(name(), 0..3),
        prop::option::of(prop_oneof![
            name().prop_map(Expr::Param),
            (name(), literal()).prop_map(|(k, v)| Expr::Map(vec![(k, v)])),
        ]),
    )
        .prop_map(|(var, labels, props)| NodePattern { var, labels, props })
}

fn rel() -> impl Strategy<Value = RelPattern> {
    (
        prop::option::of(name()),
        prop::collection::vec(name(), 0..3),
        prop::sample::select(vec![Direction::Left, Direction::Right, Direction::Both]),
        prop::option::of((prop::option::of(0u64..4), prop::option::of(0u64..6))),
    )
        .prop_map(|(var, types, direction, length)| RelPattern {
            var,
            types,
            direction,
            length: length.map(|(min, max)| Length { min, max }),
            props: None,
        })
}

fn element(min_rels: usize) -> impl Strategy<Value = PatternElement> {
    (node(), prop::collection::vec((rel(), node()), min_rels..3))
        .prop_map(|(start, chain)| PatternElement { start, chain })
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![literal(), name().prop_map(Expr::Var), name().prop_map(Expr::Param), Just(Expr::CountStar)];
    leaf.prop_recursive(4, 48, 4, |inner| {
        let boxed = inner.clone().prop_map(Box::new);
        let binops = vec![
            BinaryOp::Or,
            BinaryOp::Xor,
            BinaryOp::And,
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Mod,
            BinaryOp::Pow,
            BinaryOp::In,
            BinaryOp::StartsWith,
            BinaryOp::EndsWith,
            BinaryOp::Contains,
            BinaryOp::Regex,
        ];
        let cmp = prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Lt,
            CompareOp::Le,
            CompareOp::Gt,
            CompareOp::Ge,
        ]);
        prop_oneof![
            (boxed.clone(), name()).prop_map(|(e, k)| Expr::Prop(e, k)),
            (boxed.clone(), boxed.clone()).prop_map(|(a, b)| Expr::Index(a, b)),
            (boxed.clone(), prop::option::of(boxed.clone()), prop::option::of(boxed.clone()))
                .prop_map(|(a, b, c)| Expr::Slice(a, b, c)),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::List),
            prop::collection::vec((name(), inner.clone()), 0..3).prop_map(Expr::Map),
            (prop::sample::select(vec![UnaryOp::Not, UnaryOp::Neg, UnaryOp::Plus]), boxed.clone())
                .prop_map(|(op, e)| Expr::Unary(op, e)),
            (prop::sample::select(binops), boxed.clone(), boxed.clone()).prop_map(|(op, a, b)| Expr::Binary(op, a, b)),
            (boxed.clone(), prop::collection::vec((cmp, inner.clone()), 1..3)).prop_map(|(a, r)| Expr::Compare(a, r)),
            (boxed.clone(), any::<bool>()).prop_map(|(e, n)| Expr::IsNull(e, n)),
            (boxed.clone(), prop::collection::vec(name(), 1..3)).prop_map(|(e, l)| Expr::HasLabels(e, l)),
            (
                prop::sample::select(vec!["tolower", "size", "coalesce", "count", "collect", "a.b.f"]),
                any::<bool>(),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(n, distinct, args)| Expr::Call { name: n.to_owned(), distinct, args }),
            (
                prop::option::of(boxed.clone()),
                prop::collection::vec((inner.clone(), inner.clone()), 1..3),
                prop::option::of(boxed.clone())
            )
                .prop_map(|(subject, branches, otherwise)| Expr::Case { subject, branches, otherwise }),
            (name(), boxed.clone(), prop::option::of(boxed.clone()), prop::option::of(boxed.clone()))
                .prop_map(|(var, list, filter, map)| Expr::ListComprehension { var, list, filter, map }),
            (
                prop::sample::select(vec![Quantifier::Any, Quantifier::All, Quantifier::None, Quantifier::Single]),
                name(),
                boxed.clone(),
                prop::option::of(boxed.clone())
            )
                .prop_map(|(kind, var, list, filter)| Expr::Quantified { kind, var, list, filter }),
            (name(), boxed.clone(), name(), boxed.clone(), boxed.clone())
                .prop_map(|(acc, init, var, list, expr)| Expr::Reduce { acc, init, var, list, expr }),
            element(1).prop_map(|e| Expr::Pattern(Box::new(e))),
            (prop::option::of(name()), element(1), prop::option::of(boxed.clone()), boxed.clone()).prop_map(
                |(var, p, filter, map)| Expr::PatternComprehension { var, pattern: Box::new(p), filter, map }
            ),
            (element(1), prop::option::of(inner.clone())).prop_map(|(e, filter)| Expr::Exists(Box::new(Match {
                optional: false,
                pattern: vec![PatternPart { var: None, kind: PathKind::All, element: e }],
                filter,
            }))),
            (name(), prop::collection::vec(name(), 0..3)).prop_map(|(var, keys)| Expr::MapProjection {
                var,
                items: keys.into_iter().map(MapProjectionItem::Property).chain([MapProjectionItem::All]).collect(),
            }),
        ]
    })
}

fn item() -> impl Strategy<Value = ProjectionItem> {
    (expr(), prop::option::of(name())).prop_map(|(expr, alias)| ProjectionItem { expr, alias, text: String::new() })
}

fn statement() -> impl Strategy<Value = Statement> {
    let part = (prop::option::of(name()), prop::sample::select(vec![PathKind::All, PathKind::Shortest]), element(0))
        .prop_map(|(var, kind, element)| PatternPart { var, kind, element });
    let matcher = (any::<bool>(), prop::collection::vec(part, 1..3), prop::option::of(expr()))
        .prop_map(|(optional, pattern, filter)| Clause::Match(Match { optional, pattern, filter }));
    let projection = || {
        (any::<bool>(), prop::collection::vec(item(), 1..3), prop::option::of(expr()), any::<bool>()).prop_map(
            |(distinct, items, limit, asc)| Projection {
                distinct,
                star: false,
                order: vec![SortItem { expr: Expr::Var("a".into()), ascending: asc }],
                items,
                skip: None,
                limit,
                filter: None,
            },
        )
    };
    let clause = prop_oneof![
        matcher,
        (expr(), name()).prop_map(|(expr, var)| Clause::Unwind { expr, var }),
        projection().prop_map(Clause::With),
        (name(), name(), expr()).prop_map(|(v, key, value)| Clause::Set(vec![SetItem::Property {
            target: Expr::Var(v),
            key,
            value
        }])),
        (any::<bool>(), prop::collection::vec(expr(), 1..3))
            .prop_map(|(detach, exprs)| Clause::Delete { detach, exprs }),
    ];
    (prop::collection::vec(clause, 0..3), projection(), any::<bool>()).prop_map(|(mut clauses, ret, explain)| {
        clauses.push(Clause::Return(ret));
        Statement { explain, query: Query { first: SingleQuery { clauses }, unions: Vec::new() } }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_print_parse_is_stable(s in statement()) {
        let printed = s.to_string();
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{printed}\n{e}")))?;
        prop_assert_eq!(strip_text(parsed.clone()), strip_text(s), "{}", printed);
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = parse(&text);
    }

    #[test]
    fn cypher_like_text_never_panics(text in "[()\\[\\]{}<>\\-:*.,|=$'a-c0-9 ]{0,60}") {
        let _ = parse(&text);
    }
}

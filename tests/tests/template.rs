//! `template.yaml`, the SAM template security teams deploy, read statically (no AWS needed):
//! least privilege, the partial batch response, how the function is built and run, and the
//! operations resources written against the Lambda's contract (environment, log records,
//! metrics). `scripts/check-template.sh` runs SAM's and cfn-lint's own validation on top.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Value {
    let path = root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
}

/// A CloudFormation intrinsic function in short (`!Sub x`) or long (`{"Fn::Sub": x}`) form: its
/// name without `Fn::` and its argument.
fn intrinsic(v: &Value) -> Option<(String, &Value)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" || k == "Condition" {
                Some((k.to_string(), arg))
            } else {
                k.strip_prefix("Fn::").map(|name| (name.to_string(), arg))
            }
        }
        _ => None,
    }
}

/// A value as compact text: `Sub(arn:...)`, `Ref(X)`, `If(C,Ref(X),Ref(AWS::NoValue))`, so that
/// tests compare whole expressions. A `!Sub [string, variables]` renders as `Sub(string)`.
fn render(v: &Value) -> String {
    if let Some((name, arg)) = intrinsic(v) {
        let arg = match (name.as_str(), arg) {
            ("Sub", Value::Sequence(s)) if !s.is_empty() => render(&s[0]),
            _ => render(arg),
        };
        return format!("{name}({arg})");
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(s) => s.iter().map(render).collect::<Vec<_>>().join(","),
        Value::Mapping(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", render(k), render(v)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Tagged(_) => unreachable!("tags are intrinsics"),
    }
}

const NO_VALUE: &str = "Ref(AWS::NoValue)";

/// The alternatives of a value that may be `!If [cond, a, b]` (nested too): each with the
/// conditions under which it holds (`C` or `!C`); `AWS::NoValue` alternatives are dropped.
fn alternatives(v: &Value) -> Vec<(Vec<String>, &Value)> {
    if let Some((name, Value::Sequence(args))) = intrinsic(v)
        && name == "If"
    {
        assert_eq!(
            args.len(),
            3,
            "!If takes [condition, then, else]: {}",
            render(v)
        );
        let cond = args[0].as_str().expect("!If condition name").to_string();
        let mut out = Vec::new();
        for (branch, label) in [(&args[1], cond.clone()), (&args[2], format!("!{cond}"))] {
            for (mut conds, value) in alternatives(branch) {
                conds.insert(0, label.clone());
                out.push((conds, value));
            }
        }
        return out;
    }
    if render(v) == NO_VALUE {
        Vec::new()
    } else {
        vec![(Vec::new(), v)]
    }
}

fn seq(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn resources(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().expect("logical id").to_string(), v))
        .collect()
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(String, &'a Value)> {
    resources(t)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .collect()
}

fn the_function(t: &Value) -> &Value {
    let functions = of_type(t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 1, "one function, ipcheck");
    functions[0].1
}

fn parameter<'a>(t: &'a Value, name: &str) -> &'a Value {
    let p = &t["Parameters"][name];
    assert!(p.is_mapping(), "parameter {name} is declared");
    p
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("number"),
        Value::String(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{s:?} is not a number")),
        other => panic!("{} is not a number", render(other)),
    }
}

/// A property that must be `!Ref <parameter>`: the parameter's declaration.
fn ref_parameter<'a>(t: &'a Value, v: &Value, what: &str) -> &'a Value {
    let text = render(v);
    let name = text
        .strip_prefix("Ref(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{what} should be !Ref of a parameter, is {text}"));
    parameter(t, name)
}

struct Statement<'a> {
    resource: String,
    conditions: Vec<String>,
    body: &'a Mapping,
}

impl Statement<'_> {
    fn id(&self) -> String {
        let sid = self.body.get("Sid").map(render).unwrap_or_default();
        format!("{}/{sid} (when {:?})", self.resource, self.conditions)
    }

    fn actions(&self) -> Vec<String> {
        let actions = self
            .body
            .get("Action")
            .unwrap_or_else(|| panic!("{}: no Action", self.id()));
        seq(actions).into_iter().map(render).collect()
    }

    fn resources(&self) -> Vec<String> {
        let resources = self
            .body
            .get("Resource")
            .unwrap_or_else(|| panic!("{}: no Resource", self.id()));
        seq(resources).into_iter().map(render).collect()
    }

    fn touches(&self, service: &str) -> bool {
        self.actions()
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with(&format!("{service}:")))
    }
}

/// Every IAM policy statement the template grants, in every combination of its conditions.
fn statements(t: &Value) -> Vec<Statement<'_>> {
    fn add<'a>(out: &mut Vec<Statement<'a>>, resource: &str, conds: &[String], doc: &'a Value) {
        for (c1, doc) in alternatives(doc) {
            for statement in seq(&doc["Statement"]) {
                for (c2, s) in alternatives(statement) {
                    let conditions = conds.iter().chain(&c1).chain(&c2).cloned().collect();
                    let body = s.as_mapping().unwrap_or_else(|| {
                        panic!("{resource}: statement is not a mapping: {}", render(s))
                    });
                    out.push(Statement {
                        resource: resource.to_string(),
                        conditions,
                        body,
                    });
                }
            }
        }
    }
    let mut out = Vec::new();
    for (id, r) in resources(t) {
        let props = &r["Properties"];
        match r["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                for policy in seq(&props["Policies"]) {
                    for (conds, p) in alternatives(policy) {
                        add(&mut out, &id, &conds, &p["PolicyDocument"]);
                    }
                }
            }
            Some("AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy") => {
                add(&mut out, &id, &[], &props["PolicyDocument"]);
            }
            _ => {}
        }
    }
    out
}

#[test]
fn no_statement_grants_wildcards_on_s3_sagemaker_or_kms() {
    let t = template();
    let statements = statements(&t);
    assert!(
        statements.len() >= 4,
        "the function's role has its statements"
    );
    for s in &statements {
        for key in ["NotAction", "NotResource", "NotPrincipal"] {
            assert!(
                !s.body.contains_key(key),
                "{}: {key} grants by exclusion",
                s.id()
            );
        }
        for action in s.actions() {
            let lower = action.to_ascii_lowercase();
            assert_ne!(lower, "*", "{}: Action '*'", s.id());
            for service in ["s3", "s3-object-lambda", "sagemaker", "kms"] {
                if lower.starts_with(&format!("{service}:")) {
                    assert!(!lower.contains('*'), "{}: wildcard action {action}", s.id());
                }
            }
        }
        if ["s3", "s3-object-lambda", "sagemaker", "kms"]
            .iter()
            .any(|svc| s.touches(svc))
        {
            let resources = s.resources();
            assert!(!resources.is_empty(), "{}: no resources", s.id());
            for r in resources {
                assert_ne!(r, "*", "{}: Resource '*'", s.id());
                assert!(
                    !r.ends_with(":*") && !r.ends_with(":::*"),
                    "{}: any resource: {r}",
                    s.id()
                );
                if s.touches("sagemaker") || s.touches("kms") {
                    assert!(!r.contains('*'), "{}: wildcard resource {r}", s.id());
                }
                if s.touches("s3") {
                    // Only a trailing /* below a Security Lake source prefix.
                    let stars = r.matches('*').count();
                    let ok = stars == 0
                        || (stars == 1
                            && (r.ends_with("/aws/VPC_FLOW/*)") || r.ends_with("/aws/ROUTE53/*)")));
                    assert!(
                        ok,
                        "{}: S3 resource wider than a source prefix: {r}",
                        s.id()
                    );
                }
            }
        }
    }
}

#[test]
fn s3_reads_only_vpc_flow_and_route53_objects_and_the_model() {
    let t = template();
    let s3: Vec<Statement> = statements(&t)
        .into_iter()
        .filter(|s| s.touches("s3"))
        .collect();
    let mut lake = BTreeSet::new();
    let mut model = BTreeSet::new();
    let mut configs = BTreeSet::new();
    for s in &s3 {
        assert_eq!(s.actions(), ["s3:GetObject"], "{}: S3 actions", s.id());
        match s.conditions.as_slice() {
            [] => lake.extend(s.resources()),
            [c] if c == "UseModelUri" => model.extend(s.resources()),
            [c] if c == "HasGroupsUri"
                || c == "HasTrainedEntitiesUri"
                || c == "HasSuppressions" =>
            {
                configs.insert(c.clone());
                assert_eq!(
                    s.resources(),
                    ["Sub(arn:${AWS::Partition}:s3:::${BucketAndKey})".to_string()],
                    "{}: the one object",
                    s.id()
                );
            }
            other => panic!(
                "{}: S3 statement under unexpected conditions {other:?}",
                s.id()
            ),
        }
    }
    let prefix = "Sub(arn:${AWS::Partition}:s3:::${SecurityLakeBucketName}";
    assert_eq!(
        lake,
        BTreeSet::from([
            format!("{prefix}/aws/VPC_FLOW/*)"),
            format!("{prefix}/aws/ROUTE53/*)")
        ]),
        "the lake's objects: VPC_FLOW and ROUTE53 only"
    );
    assert_eq!(
        model,
        BTreeSet::from(["Sub(arn:${AWS::Partition}:s3:::${BucketAndKey})".to_string()]),
        "the model object, only with a model URI"
    );
    assert_eq!(
        configs.len(),
        3,
        "the group mapping, the entity list and the suppression rules, each only when set"
    );
    for (condition, param) in [
        ("HasGroupsUri", "GroupsUri"),
        ("HasTrainedEntitiesUri", "TrainedEntitiesUri"),
        ("HasSuppressions", "SuppressionsUri"),
    ] {
        let statement = s3.iter().find(|s| s.conditions == [condition]).unwrap();
        let Value::Tagged(sub) = &statement.body["Resource"] else {
            panic!("a !Sub")
        };
        assert_eq!(
            render(&sub.value[1]["BucketAndKey"]),
            format!("Select(1,Split(s3://,Ref({param})))")
        );
    }
    // BucketAndKey is MODEL_URI without its s3:// scheme, i.e. exactly that object.
    let statement = s3
        .iter()
        .find(|s| s.conditions == ["UseModelUri"])
        .expect("model statement");
    let Value::Tagged(sub) = &statement.body["Resource"] else {
        panic!("the model resource is a !Sub")
    };
    assert_eq!(
        render(&sub.value[1]["BucketAndKey"]),
        "Select(1,Split(s3://,Ref(ModelUri)))",
        "the model ARN comes from ModelUri"
    );
    let pattern = parameter(&t, "ModelUri")["AllowedPattern"]
        .as_str()
        .unwrap();
    assert!(
        pattern.contains("^s3://") && pattern.contains("/.+$"),
        "ModelUri is s3://BUCKET/KEY"
    );
}

#[test]
fn kms_decrypt_only_on_the_given_key_and_only_via_s3() {
    let t = template();
    let kms: Vec<Statement> = statements(&t)
        .into_iter()
        .filter(|s| s.touches("kms"))
        .collect();
    assert_eq!(kms.len(), 1, "one KMS statement");
    let s = &kms[0];
    assert_eq!(s.actions(), ["kms:Decrypt"]);
    assert_eq!(s.conditions, ["HasKmsKey"], "only when a key is given");
    assert_eq!(s.resources(), ["Ref(SecurityLakeKmsKeyArn)"]);
    assert_eq!(
        render(&s.body["Condition"]["StringEquals"]["kms:ViaService"]),
        "Sub(s3.${AWS::Region}.amazonaws.com)",
        "only through S3"
    );
    // and only for objects of the lake's bucket
    let context = render(&s.body["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]);
    assert!(context.contains("${SecurityLakeBucketName}"), "{context}");
    assert_eq!(
        render(&t["Conditions"]["HasKmsKey"]),
        "Not(Equals(Ref(SecurityLakeKmsKeyArn),))"
    );
}

#[test]
fn sagemaker_invoke_only_on_the_named_endpoint() {
    let t = template();
    let sm: Vec<Statement> = statements(&t)
        .into_iter()
        .filter(|s| s.touches("sagemaker"))
        .collect();
    assert_eq!(sm.len(), 1, "one SageMaker statement");
    let s = &sm[0];
    assert_eq!(s.actions(), ["sagemaker:InvokeEndpoint"]);
    assert_eq!(
        s.conditions,
        ["UseEndpoint"],
        "only when an endpoint is given"
    );
    assert_eq!(
        s.resources(),
        [
            "Sub(arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${EndpointName})"
        ]
    );
    // SageMaker authorizes against the lower-cased name in the endpoint's ARN.
    let pattern = parameter(&t, "EndpointName")["AllowedPattern"]
        .as_str()
        .unwrap();
    assert!(
        pattern.contains("a-z") && !pattern.contains("A-Z"),
        "lower case names: {pattern}"
    );
}

#[test]
fn the_rest_of_the_role_is_scoped_too() {
    let t = template();
    for s in statements(&t) {
        assert_eq!(
            s.body.get("Effect").map(render).as_deref(),
            Some("Allow"),
            "{}",
            s.id()
        );
        for action in s.actions() {
            let service = action.split(':').next().unwrap().to_ascii_lowercase();
            assert!(
                [
                    "logs",
                    "sqs",
                    "s3",
                    "kms",
                    "sagemaker",
                    "securityhub",
                    "events"
                ]
                .contains(&service.as_str()),
                "{}: unexpected service in {action}",
                s.id()
            );
            assert!(
                !action.contains('*'),
                "{}: wildcard action {action}",
                s.id()
            );
            match service.as_str() {
                "sqs" => {
                    assert!(
                        [
                            "sqs:ReceiveMessage",
                            "sqs:DeleteMessage",
                            "sqs:GetQueueAttributes"
                        ]
                        .contains(&action.as_str()),
                        "{action}"
                    );
                    assert_eq!(s.resources(), ["Ref(SubscriberQueueArn)"], "{}", s.id());
                }
                "logs" => {
                    assert!(
                        ["logs:CreateLogStream", "logs:PutLogEvents"].contains(&action.as_str()),
                        "{action}"
                    );
                    assert_eq!(s.resources(), ["Sub(${LogGroup.Arn})"], "{}", s.id());
                }
                "securityhub" => {
                    assert_eq!(s.conditions, ["UseSecurityHub"], "{}", s.id());
                    match action.as_str() {
                        // Findings of this account's own product only.
                        "securityhub:BatchImportFindings" => assert_eq!(
                            s.resources(),
                            [
                                "Sub(arn:${AWS::Partition}:securityhub:${AWS::Region}:${AWS::AccountId}:product/${AWS::AccountId}/default)"
                            ],
                            "{}",
                            s.id()
                        ),
                        // GetFindings has no resource-level permission.
                        "securityhub:GetFindings" => {
                            assert_eq!(s.resources(), ["*"], "{}", s.id())
                        }
                        other => panic!("{}: {other}", s.id()),
                    }
                }
                "events" => {
                    assert_eq!(action, "events:PutEvents", "{}", s.id());
                    assert_eq!(s.conditions, ["HasEventBus"], "{}", s.id());
                    assert_eq!(
                        s.resources(),
                        [
                            "Sub(arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName})"
                        ],
                        "{}: the one bus",
                        s.id()
                    );
                }
                _ => {}
            }
        }
    }
    // The function uses this role and nothing SAM would add: SAM's generated role attaches
    // AWSLambdaSQSQueueExecutionRole and AWSLambdaBasicExecutionRole, which grant on '*'.
    let f = &the_function(&t)["Properties"];
    assert!(
        f.get("Policies").is_none(),
        "no SAM policies: the role is the template's own"
    );
    let role = render(&f["Role"]);
    assert_eq!(role, "GetAtt(FunctionRole.Arn)", "the function's role");
    let role = &t["Resources"]["FunctionRole"];
    assert_eq!(role["Type"].as_str(), Some("AWS::IAM::Role"));
    assert!(
        role["Properties"].get("ManagedPolicyArns").is_none(),
        "no managed policies"
    );
    let trust = render(&role["Properties"]["AssumeRolePolicyDocument"]);
    assert!(trust.contains("Service:lambda.amazonaws.com"), "{trust}");
    assert!(trust.contains("aws:SourceAccount"), "{trust}");
}

#[test]
fn the_queue_mapping_reports_batch_item_failures() {
    let t = template();
    let f = &the_function(&t)["Properties"];
    let mut sqs = 0;
    for (name, event) in f["Events"].as_mapping().expect("Events").iter() {
        if event["Type"].as_str() != Some("SQS") {
            continue;
        }
        sqs += 1;
        let p = &event["Properties"];
        let name = render(name);
        let types: Vec<String> = seq(&p["FunctionResponseTypes"])
            .into_iter()
            .map(render)
            .collect();
        assert_eq!(
            types,
            ["ReportBatchItemFailures"],
            "{name}: partial batch responses"
        );
        assert_eq!(render(&p["Queue"]), "Ref(SubscriberQueueArn)", "{name}");

        let batch = ref_parameter(&t, &p["BatchSize"], "BatchSize");
        assert_eq!(num(&batch["Default"]), 10.0);
        assert!(num(&batch["MinValue"]) >= 1.0 && num(&batch["MaxValue"]) <= 10_000.0);
        let window = ref_parameter(
            &t,
            &p["MaximumBatchingWindowInSeconds"],
            "MaximumBatchingWindow",
        );
        assert!(
            (0.0..=5.0).contains(&num(&window["Default"])),
            "batching window 0-5 s"
        );
        assert!(num(&window["MinValue"]) >= 0.0 && num(&window["MaxValue"]) <= 300.0);
        let concurrency = ref_parameter(
            &t,
            &p["ScalingConfig"]["MaximumConcurrency"],
            "MaximumConcurrency",
        );
        assert_eq!(num(&concurrency["Default"]), 5.0);
        assert!(num(&concurrency["MinValue"]) >= 2.0 && num(&concurrency["MaxValue"]) <= 1000.0);
    }
    assert_eq!(sqs, 1, "one SQS event: the subscriber queue");
    for (id, m) in of_type(&t, "AWS::Lambda::EventSourceMapping") {
        let types = render(&m["Properties"]["FunctionResponseTypes"]);
        assert_eq!(types, "ReportBatchItemFailures", "{id}");
    }
}

#[test]
fn ipcheck_is_built_with_cargo_lambda_for_graviton() {
    let t = template();
    let f = the_function(&t);
    assert_eq!(
        f["Metadata"]["BuildMethod"].as_str(),
        Some("rust-cargolambda")
    );
    assert_eq!(
        f["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("ipcheck")
    );
    let p = &f["Properties"];
    assert_eq!(p["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(render(&p["Architectures"]), "arm64");
    assert_eq!(p["Handler"].as_str(), Some("bootstrap"));
    // CodeUri is the workspace root, so `cargo lambda build --bin ipcheck` finds the binary.
    assert_eq!(p["CodeUri"].as_str(), Some("."));
    let workspace = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        workspace.contains("\"functions/ipcheck\""),
        "functions/ipcheck is a member"
    );
    let crate_toml = std::fs::read_to_string(root().join("functions/ipcheck/Cargo.toml")).unwrap();
    assert!(
        crate_toml.contains("name = \"ipcheck\""),
        "the crate builds a binary `ipcheck`"
    );
}

#[test]
fn memory_and_timeout_are_parameters_within_bounds() {
    let t = template();
    let p = &the_function(&t)["Properties"];
    let memory = ref_parameter(&t, &p["MemorySize"], "MemorySize");
    let default = num(&memory["Default"]);
    // 1,000,000 rows are paired in ~40 ms with ~15 MB peak; 512 MB would be a third of a vCPU.
    assert!(
        (512.0..=3008.0).contains(&default),
        "MemorySize default {default}"
    );
    assert!(num(&memory["MinValue"]) >= 128.0 && num(&memory["MaxValue"]) <= 10_240.0);

    let timeout = ref_parameter(&t, &p["Timeout"], "Timeout");
    let default = num(&timeout["Default"]);
    // Lambda refuses a mapping whose function timeout exceeds the queue's visibility timeout;
    // Security Lake's queues default to 300 s, so the default deploys against an untouched queue.
    assert!(
        (30.0..=300.0).contains(&default),
        "Timeout default {default}"
    );
    assert!(num(&timeout["MaxValue"]) <= 900.0, "Lambda's limit");
}

#[test]
fn logs_are_json_into_the_stacks_log_group_with_retention() {
    let t = template();
    let logging = &the_function(&t)["Properties"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"].as_str(), Some("JSON"));
    assert_eq!(logging["ApplicationLogLevel"].as_str(), Some("INFO"));
    assert_eq!(logging["SystemLogLevel"].as_str(), Some("WARN"));
    assert_eq!(render(&logging["LogGroup"]), "Ref(LogGroup)");
    let group = &t["Resources"]["LogGroup"];
    assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    let retention = ref_parameter(
        &t,
        &group["Properties"]["RetentionInDays"],
        "RetentionInDays",
    );
    let allowed: Vec<f64> = seq(&retention["AllowedValues"])
        .into_iter()
        .map(num)
        .collect();
    let valid = [
        1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
        2922, 3288, 3653,
    ];
    assert!(
        allowed.iter().all(|d| valid.contains(&(*d as u32))),
        "{allowed:?}"
    );
    assert!(allowed.contains(&num(&retention["Default"])));
}

#[test]
fn environment_follows_the_lambda_contract() {
    let t = template();
    let env = &the_function(&t)["Properties"]["Environment"]["Variables"];
    let keys: BTreeSet<String> = env
        .as_mapping()
        .expect("Variables")
        .keys()
        .map(render)
        .collect();
    let expected = [
        "ENDPOINT_NAME",
        "MODEL_URI",
        "ANOMALY_THRESHOLD",
        "FANOUT_THRESHOLD",
        "FANOUT_MIN_ADDRESSES",
        "PAIRING",
        "GROUP_BY",
        "GROUPS_URI",
        "TRAINED_ENTITIES_URI",
        "MAX_OBJECT_BYTES",
        "METRICS_NAMESPACE",
        "MESSAGE_CONCURRENCY",
        "SECURITY_HUB",
        "EVENT_BUS_NAME",
        "SUPPRESSIONS_URI",
        "MAX_ANOMALIES_PER_OBJECT",
    ];
    assert_eq!(keys, expected.iter().map(|s| s.to_string()).collect());

    // Exactly one of ENDPOINT_NAME and MODEL_URI is set.
    assert_eq!(
        render(&env["ENDPOINT_NAME"]),
        format!("If(UseEndpoint,Ref(EndpointName),{NO_VALUE})")
    );
    assert_eq!(
        render(&env["MODEL_URI"]),
        format!("If(UseModelUri,Ref(ModelUri),{NO_VALUE})")
    );
    assert_eq!(
        render(&t["Conditions"]["UseEndpoint"]),
        "Not(Equals(Ref(EndpointName),))"
    );
    assert_eq!(
        render(&t["Conditions"]["UseModelUri"]),
        "Not(Equals(Ref(ModelUri),))"
    );
    let rule = render(&t["Rules"]);
    assert!(
        rule.contains("Or(And(Not(Equals(Ref(EndpointName),)),Equals(Ref(ModelUri),)),And(Equals(Ref(EndpointName),),Not(Equals(Ref(ModelUri),))))"),
        "a rule refuses neither or both: {rule}"
    );

    let threshold = ref_parameter(&t, &env["ANOMALY_THRESHOLD"], "ANOMALY_THRESHOLD");
    assert_eq!(num(&threshold["Default"]), 0.0);
    // The fan-out rule is off unless its threshold is given.
    assert_eq!(
        render(&env["FANOUT_THRESHOLD"]),
        format!("If(HasFanout,Ref(FanoutThreshold),{NO_VALUE})")
    );
    assert_eq!(
        parameter(&t, "FanoutThreshold")["Default"].as_str(),
        Some("")
    );
    let fanout_min = ref_parameter(&t, &env["FANOUT_MIN_ADDRESSES"], "FANOUT_MIN_ADDRESSES");
    assert_eq!(num(&fanout_min["Default"]), 10.0);
    assert_eq!(num(&fanout_min["MinValue"]), 2.0);
    let pairing = ref_parameter(&t, &env["PAIRING"], "PAIRING");
    assert_eq!(
        render(&pairing["AllowedValues"]),
        "initiator,src,endpoint,peer"
    );
    assert_eq!(pairing["Default"].as_str(), Some("initiator"));
    let group_by = ref_parameter(&t, &env["GROUP_BY"], "GROUP_BY");
    assert_eq!(render(&group_by["AllowedValues"]), "subnet,vpc,none");
    assert_eq!(group_by["Default"].as_str(), Some("subnet"));
    for (var, param, condition) in [
        ("GROUPS_URI", "GroupsUri", "HasGroupsUri"),
        (
            "TRAINED_ENTITIES_URI",
            "TrainedEntitiesUri",
            "HasTrainedEntitiesUri",
        ),
    ] {
        assert_eq!(
            render(&env[var]),
            format!("If({condition},Ref({param}),{NO_VALUE})")
        );
        assert_eq!(parameter(&t, param)["Default"].as_str(), Some(""));
    }
    let namespace = ref_parameter(&t, &env["METRICS_NAMESPACE"], "METRICS_NAMESPACE");
    assert_eq!(
        namespace["Default"].as_str(),
        Some("SecurityLakeIpInsights")
    );
    assert_eq!(num(&env["MAX_OBJECT_BYTES"]), 1_073_741_824.0);
    let hub = ref_parameter(&t, &env["SECURITY_HUB"], "SECURITY_HUB");
    assert_eq!(render(&hub["AllowedValues"]), "true,false");
    assert_eq!(hub["Default"].as_str(), Some("false"));
    for (var, param, condition) in [
        ("EVENT_BUS_NAME", "EventBusName", "HasEventBus"),
        ("SUPPRESSIONS_URI", "SuppressionsUri", "HasSuppressions"),
    ] {
        assert_eq!(
            render(&env[var]),
            format!("If({condition},Ref({param}),{NO_VALUE})")
        );
        assert_eq!(parameter(&t, param)["Default"].as_str(), Some(""));
    }
    let cap = ref_parameter(
        &t,
        &env["MAX_ANOMALIES_PER_OBJECT"],
        "MAX_ANOMALIES_PER_OBJECT",
    );
    assert_eq!(num(&cap["Default"]), 200.0);
    assert!(num(&cap["MinValue"]) >= 1.0);
    assert!(num(&env["MESSAGE_CONCURRENCY"]) >= 1.0);
}

/// The metrics the function emits (Embedded Metric Format, no dimensions).
const METRICS: [&str; 13] = [
    "ObjectsScored",
    "PairsScored",
    "Anomalies",
    "Rejected",
    "EndpointErrors",
    "UnseenEntityPairs",
    "GroupScoredPairs",
    "SuppressedAnomalies",
    "CappedAnomalies",
    "FindingsSent",
    "EventsSent",
    "SinkRejected",
    "SinkFailures",
];

#[test]
fn the_metrics_list_is_what_the_function_emits() {
    let doc = ipcheck::Metrics::default().emf("NS", 0);
    let emitted: BTreeSet<String> = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["Name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(emitted, METRICS.iter().map(|s| s.to_string()).collect());
}

#[test]
fn alarms_watch_the_functions_metrics_and_notify_the_topic() {
    let t = template();
    let alarms = of_type(&t, "AWS::CloudWatch::Alarm");
    let mut watched = BTreeSet::new();
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(
            render(&p["AlarmActions"]),
            "Ref(AlarmTopic)",
            "{id} notifies the topic"
        );
        // A metric-math alarm watches each of its metrics.
        if let Some(parts) = p.get("Metrics").and_then(|m| m.as_sequence()) {
            for part in parts {
                let Some(stat) = part.get("MetricStat") else {
                    continue;
                };
                let metric = stat["Metric"]["MetricName"].as_str().unwrap().to_string();
                assert_eq!(
                    render(&stat["Metric"]["Namespace"]),
                    "Ref(MetricsNamespace)"
                );
                assert!(
                    METRICS.contains(&metric.as_str()),
                    "{id}: {metric} is not emitted"
                );
                assert_eq!(stat["Stat"].as_str(), Some("Sum"), "{id}");
                watched.insert(format!("Ref(MetricsNamespace) {metric}"));
            }
            assert_eq!(p["TreatMissingData"].as_str(), Some("notBreaching"), "{id}");
            continue;
        }
        let namespace = render(&p["Namespace"]);
        let metric = p["MetricName"].as_str().expect("MetricName").to_string();
        if namespace == "Ref(MetricsNamespace)" {
            assert!(
                METRICS.contains(&metric.as_str()),
                "{id}: {metric} is not emitted"
            );
            assert!(
                p.get("Dimensions").is_none(),
                "{id}: the metrics have no dimensions"
            );
            assert_eq!(p["Statistic"].as_str(), Some("Sum"), "{id}");
        }
        if namespace == "AWS/Lambda" {
            assert_eq!(
                render(&p["Dimensions"]),
                "{Name:FunctionName,Value:Ref(IpcheckFunction)}",
                "{id}"
            );
        }
        assert_eq!(p["TreatMissingData"].as_str(), Some("notBreaching"), "{id}");
        watched.insert(format!("{namespace} {metric}"));
    }
    for required in [
        "Ref(MetricsNamespace) Anomalies",
        "Ref(MetricsNamespace) Rejected",
        "Ref(MetricsNamespace) CappedAnomalies",
        "Ref(MetricsNamespace) SinkFailures",
        "Ref(MetricsNamespace) SinkRejected",
        "AWS/Lambda Errors",
    ] {
        assert!(
            watched.contains(required),
            "an alarm on {required}: {watched:?}"
        );
    }
    assert_eq!(
        t["Resources"]["AlarmTopic"]["Type"].as_str(),
        Some("AWS::SNS::Topic")
    );
    let subscriptions = of_type(&t, "AWS::SNS::Subscription");
    assert_eq!(subscriptions.len(), 1);
    let s = subscriptions[0].1;
    assert_eq!(
        s["Condition"].as_str(),
        Some("HasAlarmEmail"),
        "the e-mail is optional"
    );
    assert_eq!(s["Properties"]["Protocol"].as_str(), Some("email"));
    assert_eq!(render(&s["Properties"]["Endpoint"]), "Ref(AlarmEmail)");
}

/// Fields of each log record type (top level), by the Lambda's contract.
fn record_fields(record: &str) -> Vec<&'static str> {
    let mut fields = vec![
        "record",
        "level",
        "timestamp",
        "@timestamp",
        "@message",
        "@logStream",
    ];
    fields.extend(match record {
        "anomaly" => &[
            "entity",
            "ip",
            "dot_product",
            "threshold",
            "count",
            "source",
            "source_version",
            "account",
            "region",
            "bucket",
            "key",
            "message_id",
        ][..],
        "object_scored" => &[
            "rows",
            "pairs",
            "distinct_pairs",
            "anomalies",
            "endpoint_calls",
            "bytes_read",
            "millis",
            "source",
            "account",
            "region",
            "bucket",
            "key",
        ][..],
        "rejected" => &["message_id", "bucket", "key", "reason", "error"][..],
        other => panic!("a query over records of unknown type {other:?}"),
    });
    fields
}

fn field_name(s: &str) -> String {
    let s = s.trim();
    let s = s.split(" as ").next().unwrap().trim();
    s.trim_matches('`').to_string()
}

/// The record type a query filters on and the log fields it reads (in `fields`, in aggregate
/// functions and in `by`), aliases excluded.
fn query_fields(query: &str) -> (String, BTreeSet<String>) {
    let text: String = query
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let mut record = None;
    let mut fields = BTreeSet::new();
    for command in text.split('|').map(str::trim) {
        let (verb, rest) = command.split_once(' ').unwrap_or((command, ""));
        match verb {
            "filter" => {
                if let Some(r) = rest.split("record = \"").nth(1) {
                    record = Some(r.split('"').next().unwrap().to_string());
                }
            }
            "fields" => fields.extend(rest.split(',').map(field_name)),
            "stats" => {
                let (aggregates, by) = rest.split_once(" by ").unwrap_or((rest, ""));
                for call in aggregates.split('(').skip(1) {
                    let arg = field_name(call.split([',', ')']).next().unwrap());
                    if arg != "*" && !arg.starts_with(|c: char| c.is_ascii_digit()) {
                        fields.insert(arg);
                    }
                }
                for group in by.split(',').filter(|g| !g.contains('(')) {
                    fields.insert(field_name(group));
                }
            }
            _ => {}
        }
    }
    (record.expect("the query filters on a record type"), fields)
}

#[test]
fn saved_queries_read_the_fields_of_the_records_they_filter() {
    let t = template();
    let queries = of_type(&t, "AWS::Logs::QueryDefinition");
    let mut kinds = BTreeSet::new();
    for (id, q) in &queries {
        let p = &q["Properties"];
        assert_eq!(render(&p["LogGroupNames"]), "Ref(LogGroup)", "{id}");
        let query = p["QueryString"].as_str().expect("QueryString");
        let (record, fields) = query_fields(query);
        let known = record_fields(&record);
        for field in &fields {
            assert!(
                known.contains(&field.as_str()),
                "{id}: {record} records have no {field}"
            );
        }
        if record == "anomaly" && query.contains("by entity") {
            kinds.insert("anomalies by entity");
        }
        if record == "rejected" {
            kinds.insert("rejected objects");
        }
        if record == "object_scored" && query.contains("bin(") {
            kinds.insert("throughput");
        }
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["anomalies by entity", "rejected objects", "throughput"]),
        "the saved queries"
    );
}

#[test]
fn the_parameters_a_team_sets_exist_and_are_all_used() {
    let t = template();
    for name in [
        "SubscriberQueueArn",
        "SecurityLakeBucketName",
        "SecurityLakeKmsKeyArn",
        "EndpointName",
        "ModelUri",
        "AnomalyThreshold",
        "FanoutThreshold",
        "FanoutMinAddresses",
        "Pairing",
        "GroupBy",
        "GroupsUri",
        "TrainedEntitiesUri",
        "SecurityHubFindings",
        "EventBusName",
        "SuppressionsUri",
        "MaxAnomaliesPerObject",
        "BatchSize",
        "MaximumBatchingWindowInSeconds",
        "MaximumConcurrency",
        "MemorySize",
        "LogRetentionInDays",
        "AlarmEmail",
    ] {
        parameter(&t, name);
    }
    for optional in [
        "SecurityLakeKmsKeyArn",
        "EndpointName",
        "ModelUri",
        "AlarmEmail",
        "GroupsUri",
        "TrainedEntitiesUri",
        "EventBusName",
        "SuppressionsUri",
    ] {
        assert_eq!(
            parameter(&t, optional)["Default"].as_str(),
            Some(""),
            "{optional} is optional"
        );
    }
    let used = format!("{} {}", render(&t["Resources"]), render(&t["Conditions"]));
    for (name, _) in t["Parameters"].as_mapping().unwrap() {
        let name = render(name);
        assert!(
            used.contains(&format!("Ref({name})")) || used.contains(&format!("${{{name}}}")),
            "parameter {name} is never used"
        );
    }
}

#[test]
fn the_timeout_leaves_room_for_the_functions_own_margins() {
    let t = template();
    let timeout = parameter(&t, "FunctionTimeout");
    let window = parameter(&t, "MaximumBatchingWindowInSeconds");
    // The function answers before its deadline; the shortest timeout must leave real work time.
    let reserved = ipcheck::handler::DEADLINE_MARGIN
        + ipcheck::handler::SINK_RESERVE
        + ipcheck::handler::MIN_TIME_FOR_OBJECT;
    assert!(
        num(&timeout["MinValue"]) >= 3.0 * reserved.as_secs_f64(),
        "FunctionTimeout's minimum leaves no time to work after the margins ({reserved:?})"
    );
    // The queue's visibility timeout (at most 12 h in SQS) can follow AWS's advice for every
    // allowed setting: 6 x timeout + batching window.
    let worst = 6.0 * num(&timeout["MaxValue"]) + num(&window["MaxValue"]);
    assert!(worst <= 43_200.0, "{worst}");
    // The README's figure is the rule applied to the defaults.
    let advised = 6.0 * num(&timeout["Default"]) + num(&window["Default"]);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("VisibilityTimeout={advised}")),
        "the README's set-queue-attributes command uses {advised}"
    );
    assert!(
        readme.contains(&format!("so {advised} s for")),
        "the README states {advised} s"
    );
}

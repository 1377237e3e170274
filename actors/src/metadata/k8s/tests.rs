//! Manifests into records: documents, lists, containers, refusals and limits.

use super::containers::ImageReference;
use super::*;

fn record<'a>(parsed: &'a Parsed, path: &str) -> &'a MetadataRecord {
    parsed.records.iter().find(|r| r.path == path).unwrap_or_else(|| {
        panic!(
            "no {path}: {:?}",
            parsed.records.iter().map(|r| &r.path).collect::<Vec<_>>()
        )
    })
}

fn refusal(source: &str) -> Refusal {
    match parse(source) {
        Ok(parsed) => panic!("read, not refused: {:?}", parsed.records),
        Err(refusal) => refusal,
    }
}

const APP: &str = "\
---
# the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: front}
  annotations:
    deployment.kubernetes.io/revision: \"3\"
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
        - name: migrate
          image: registry.local:5000/shop/migrate:1.4
      containers:
        - name: app
          image: ghcr.io/acme/web:2.1@sha256:abcd
          ports:
            - containerPort: 8080
              name: http
          env:
            - name: MODE
              value: production
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: db, key: password}
            - name: NODE
              valueFrom:
                fieldRef: {fieldPath: spec.nodeName}
          resources:
            limits: {cpu: 500m, memory: 256Mi}
          readinessProbe:
            httpGet: {path: /ready, port: http}
            periodSeconds: 5

---
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
";

#[test]
fn documents_become_resources_and_their_containers() {
    let parsed = parse(APP).unwrap();
    let paths: Vec<&str> = parsed.records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "Deployment/shop/web",
            "Deployment/shop/web/initContainers/migrate",
            "Deployment/shop/web/containers/app",
            "Service/web",
        ],
        "an empty document between two markers is skipped"
    );
    let deployment = record(&parsed, "Deployment/shop/web");
    assert_eq!(deployment.kind, "k8s.resource");
    assert_eq!(deployment.attributes["group"], "apps");
    assert_eq!(deployment.attributes["replicas"], 3);
    assert_eq!(deployment.attributes["labels"]["tier"], "front");
    assert_eq!(
        deployment.attributes["annotation_keys"],
        json!(["deployment.kubernetes.io/revision"])
    );
    assert_eq!(deployment.attributes["selector"]["matchLabels"]["app"], "web");
    assert_eq!((deployment.line_start, deployment.line_end), (3, 41));

    let app = record(&parsed, "Deployment/shop/web/containers/app");
    assert_eq!(app.parent.as_deref(), Some("Deployment/shop/web"));
    assert_eq!(app.attributes["init"], false);
    assert_eq!(app.attributes["image_repository"], "ghcr.io/acme/web");
    assert_eq!(app.attributes["image_tag"], "2.1");
    assert_eq!(app.attributes["image_digest"], "sha256:abcd");
    assert_eq!(app.attributes["ports"][0]["containerPort"], 8080);
    assert_eq!(app.attributes["resources"]["limits"]["memory"], "256Mi");
    assert_eq!(app.attributes["readiness_probe"]["handler"], "http_get");
    assert_eq!(app.attributes["readiness_probe"]["path"], "/ready");
    assert_eq!((app.line_start, app.line_end), (23, 41));

    let migrate = record(&parsed, "Deployment/shop/web/initContainers/migrate");
    assert_eq!(migrate.attributes["init"], true);
    assert_eq!(
        migrate.attributes["image_repository"], "registry.local:5000/shop/migrate",
        "a registry's port is not a tag"
    );
    assert_eq!(migrate.attributes["image_tag"], "1.4");

    let service = record(&parsed, "Service/web");
    assert_eq!(service.attributes["service_type"], "ClusterIP");
    assert_eq!(service.attributes["ports"][0]["targetPort"], "http");
    assert_eq!((service.line_start, service.line_end), (45, 53));
}

#[test]
fn environment_keeps_names_and_sources_never_values() {
    let parsed = parse(APP).unwrap();
    let env = &record(&parsed, "Deployment/shop/web/containers/app").attributes["env"];
    assert_eq!(env[0], json!({"name": "MODE", "source": "value"}));
    assert_eq!(
        env[1],
        json!({"name": "DB_PASSWORD", "source": "secretKeyRef", "ref": {"name": "db", "key": "password"}})
    );
    assert_eq!(env[2]["source"], "fieldRef");
    assert_eq!(env[2]["ref"]["fieldPath"], "spec.nodeName");
    let all = serde_json::to_string(&parsed.records).unwrap();
    assert!(!all.contains("production"), "a literal value is never kept");
}

#[test]
fn lists_are_expanded_and_cronjobs_reach_their_pods() {
    let source = "\
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly}
  spec:
    schedule: '0 3 * * *'
    jobTemplate:
      spec:
        template:
          spec:
            containers:
            - {name: backup, image: alpine}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
  data:
    prometheus.yml: |
      apiVersion: v1
      kind: Secret
      metadata: {name: not-a-resource}
";
    let parsed = parse(source).unwrap();
    let paths: Vec<&str> = parsed.records.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "CronJob/nightly",
            "CronJob/nightly/containers/backup",
            "ConfigMap/settings"
        ],
        "a document embedded as a string is text, not a resource"
    );
    assert_eq!(
        record(&parsed, "ConfigMap/settings").attributes["data_keys"],
        json!(["prometheus.yml"])
    );
    assert_eq!(
        record(&parsed, "CronJob/nightly/containers/backup")
            .attributes
            .get("image_tag"),
        None,
        "an image without a tag has none"
    );
    assert_eq!(record(&parsed, "ConfigMap/settings").line_start, 15);
}

#[test]
fn json_manifests_and_crds_are_read() {
    let source = r#"{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "crontabs.stable.example.com"},
  "spec": {
    "group": "stable.example.com",
    "scope": "Namespaced",
    "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
    "versions": [
      {"name": "v1", "served": true, "storage": true},
      {"name": "v1beta1", "served": true, "storage": false, "deprecated": true}
    ]
  }
}"#;
    let parsed = parse(source).unwrap();
    let crd = record(&parsed, "CustomResourceDefinition/crontabs.stable.example.com");
    assert_eq!(crd.attributes["crd_group"], "stable.example.com");
    assert_eq!(crd.attributes["crd_names"]["kind"], "CronTab");
    assert_eq!(crd.attributes["crd_versions"][1]["name"], "v1beta1");
    assert_eq!(crd.attributes["crd_versions"][1]["deprecated"], true);
    assert_eq!((crd.line_start, crd.line_end), (1, 14));
}

#[test]
fn yaml_1_2_scalars_and_anchors() {
    let source = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  labels: &common {enabled: yes, country: NO, version: 1.10}
  annotations: *common
data: {a: b}
";
    let parsed = parse(source).unwrap();
    let labels = &record(&parsed, "ConfigMap/flags").attributes["labels"];
    assert_eq!(labels["enabled"], "yes", "YAML 1.2: yes is a string");
    assert_eq!(labels["country"], "NO");
    assert_eq!(
        record(&parsed, "ConfigMap/flags").attributes["annotation_keys"],
        json!(["enabled", "country", "version"]),
        "an alias resolves to its anchor"
    );
}

#[test]
fn helm_templates_are_refused_but_template_text_in_strings_is_not() {
    let template = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include \"app.fullname\" . }}
spec:
{{- if .Values.replicas }}
  replicas: {{ .Values.replicas }}
{{- end }}
";
    let refused = refusal(template);
    assert_eq!(refused.class, "helm_template");
    assert_eq!(refused.line, Some(4));

    let rule = "\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: node}
spec:
  groups:
  - name: node
    rules:
    - alert: Down
      annotations:
        summary: Instance {{ $labels.instance }} is down
        description: \"{{ $labels.job }} has been down for 5 minutes\"
      expr: |
        {{ not a template of this file }}
";
    let parsed = parse(rule).unwrap();
    assert_eq!(parsed.records.len(), 1);
}

#[test]
fn what_is_not_a_manifest_is_refused_with_its_class() {
    assert_eq!(refusal("name: CI\non: [push]\njobs: {}\n").class, "not_a_manifest");
    assert_eq!(refusal("").class, "not_a_manifest");
    let broken = refusal("apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n");
    assert_eq!(broken.class, "yaml_syntax");
    assert!(broken.line.is_some());

    // A manifest beside a document that is not one: the manifest is kept, the other noted.
    let mixed = parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\njust: data\n").unwrap();
    assert_eq!(mixed.records.len(), 1);
    assert_eq!(mixed.warnings.len(), 1);
    assert_eq!(mixed.warnings[0].line, 5);
}

#[test]
fn the_same_object_twice_is_kept_once_with_a_warning() {
    let twice = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n";
    let parsed = parse(twice).unwrap();
    assert_eq!(parsed.records.len(), 1);
    assert_eq!(parsed.records[0].line_start, 1);
    assert_eq!(parsed.warnings.len(), 1);
}

#[test]
fn alias_bombs_and_deep_nesting_are_refused() {
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..10 {
        let previous = level - 1;
        bomb.push_str(&format!("a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n").replace("*a0", "*a"));
    }
    assert_eq!(refusal(&bomb).class, "alias_expansion");

    let deep = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}}}\n",
        "[".repeat(10_000)
    );
    assert_eq!(refusal(&deep).class, "too_deep");
    let mut indented = String::from("apiVersion: v1\nkind: Pod\n");
    for depth in 0..200 {
        indented.push_str(&format!("{}k{depth}:\n", " ".repeat(depth)));
    }
    assert_eq!(refusal(&indented).class, "too_deep");
}

#[test]
fn image_references_split_as_a_runtime_splits_them() {
    let cases = [
        ("nginx", ("nginx", None, None)),
        ("nginx:1.25", ("nginx", Some("1.25"), None)),
        ("localhost:5000/app", ("localhost:5000/app", None, None)),
        ("localhost:5000/app:v2", ("localhost:5000/app", Some("v2"), None)),
        ("app@sha256:ff", ("app", None, Some("sha256:ff"))),
        ("gcr.io/a/b:c@sha256:ff", ("gcr.io/a/b", Some("c"), Some("sha256:ff"))),
    ];
    for (image, (repository, tag, digest)) in cases {
        assert_eq!(
            ImageReference::parse(image),
            ImageReference {
                repository,
                tag,
                digest
            },
            "{image}"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(256))]

    #[test]
    fn any_text_is_records_or_a_refusal_never_a_panic(text in "(\\PC|\\n){0,300}") {
        let _ = parse(&text);
    }

    #[test]
    fn yaml_shaped_noise_is_records_or_a_refusal(text in "([a-zA-Z:{}\\[\\],&*!|>'\"#?-]| |\\n|apiVersion: v1\\n|kind: Pod\\n|  ){0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn every_cut_of_a_manifest_is_read_or_refused(cut in 0usize..APP.len()) {
        if APP.is_char_boundary(cut) {
            let _ = parse(&APP[..cut]);
        }
    }
}

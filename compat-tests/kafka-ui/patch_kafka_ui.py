#!/usr/bin/env python3
"""Patch kafbat/kafka-ui v1.1.0 so it builds from Maven Central alone with JDK 17.

Why: v1.1.0 depends on Confluent's kafka-clients 7.8.0-ccs and schema-registry serializers,
published only in Confluent's repository. The patch swaps in Apache kafka-clients 3.8.1 (what
7.8.x-ccs is built from), drops the serdes and data-catalog extractors that need the Confluent
libraries (SchemaRegistry, ProtobufFile, AvroEmbedded), and compiles for Java 17 (the newest JDK
Debian bookworm ships). String, Int, Long, Base64, Hex, UUID and raw-protobuf serdes remain.
Every edit must match exactly once, so a changed upstream source fails loudly here.
"""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1])


def edit(rel, old, new, count=1, regex=False):
    path = root / rel
    text = path.read_text()
    found = len(re.findall(old, text, flags=re.S)) if regex else text.count(old)
    if found != count:
        sys.exit(f"patch: {rel}: expected {count} match(es) of {old!r}, found {found}")
    text = re.sub(old, new, text, flags=re.S) if regex else text.replace(old, new)
    path.write_text(text)


def delete(rel):
    path = root / rel
    if not path.exists():
        sys.exit(f"patch: {rel} is missing")
    path.unlink()


# Maven Central only, Java 17.
edit("pom.xml", "<maven.compiler.release>21</maven.compiler.release>",
     "<maven.compiler.release>17</maven.compiler.release>")
for release in ("source", "target"):
    edit("serde-api/pom.xml", f"<maven.compiler.{release}>21</maven.compiler.{release}>",
         f"<maven.compiler.{release}>17</maven.compiler.{release}>")
edit("pom.xml", r"\s*<(repository|pluginRepository)>\s*<id>confluent</id>.*?</\1>", "",
     count=2, regex=True)

# Apache kafka-clients instead of 7.8.0-ccs; no Confluent serializers.
edit("api/pom.xml", "<version>${confluent.version}-ccs</version>", "<version>3.8.1</version>")
edit("api/pom.xml",
     r"\s*<dependency>\s*<groupId>io\.confluent</groupId>.*?</dependency>",
     "", count=4, regex=True)
edit("api/pom.xml", "<artifactId>kafka-clients</artifactId>",
     "<artifactId>kafka-clients</artifactId>\n            <!-- patched: Apache build -->")
# Also what else the serializers brought in that kafka-ui's own code uses.
extra = [("org.apache.avro", "avro", "${avro.version}"),
         ("javax.validation", "validation-api", "2.0.1.Final"),
         ("commons-collections", "commons-collections", "3.2.2")]
edit("api/pom.xml", "    </properties>\n\n    <dependencies>\n",
     "    </properties>\n\n    <dependencies>\n" + "".join(
         f"        <dependency>\n            <groupId>{g}</groupId>\n"
         f"            <artifactId>{a}</artifactId>\n            <version>{v}</version>\n"
         "        </dependency>\n" for g, a, v in extra))

java = "api/src/main/java/io/kafbat/ui/"
for f in ["serdes/builtin/sr/SchemaRegistrySerde.java", "serdes/builtin/sr/MessageFormatter.java",
          "serdes/builtin/sr/Serialize.java", "serdes/builtin/ProtobufFileSerde.java",
          "serdes/builtin/AvroEmbeddedSerde.java",
          "service/integration/odd/SchemaReferencesResolver.java",
          "service/integration/odd/schema/AvroExtractor.java",
          "service/integration/odd/schema/JsonSchemaExtractor.java",
          "service/integration/odd/schema/ProtoExtractor.java",
          "service/integration/odd/schema/DataSetFieldsExtractors.java"]:
    delete(java + f)

init = java + "serdes/SerdesInitializer.java"
for serde in ["SchemaRegistrySerde", "ProtobufFileSerde", "AvroEmbeddedSerde"]:
    edit(init, f"            .put({serde}.name(), {serde}.class)\n", "")
    edit(init, rf"import io\.kafbat\.ui\.serdes\.builtin\.(sr\.)?{serde};\n", "", regex=True)
edit(init, "            .or(() -> Optional.ofNullable(registeredSerdes.get(SchemaRegistrySerde.name())))\n"
           "            .or(() -> Optional.ofNullable(registeredSerdes.get(ProtobufFileSerde.name())))\n", "")

# The data-catalog (ODD) exporter reports topic schemas from the schema registry: report none.
topics = java + "service/integration/odd/TopicsExporter.java"
edit(topics, r"    if \(cluster\.getSchemaRegistryClient\(\) == null\) \{\n      return Mono\.just\(List\.of\(\)\);\n    \}\n.*?\n  \}\n\n  private Mono<Tuple2<SchemaSubject, Map<String, String>>> getSubjWithResolvedRefs.*?\n  \}\n",
     "    return Mono.just(List.of()); // patched: schema-registry extractors removed\n  }\n",
     regex=True)
edit(topics, "import io.kafbat.ui.service.integration.odd.schema.DataSetFieldsExtractors;\n", "")

conv = java + "util/jsonschema/JsonAvroConversion.java"
edit(conv, "import io.confluent.kafka.serializers.AvroData;\n", "")
edit(conv, "AvroData.getGenericData()", "org.apache.avro.generic.GenericData.get()")

print("patched", root)

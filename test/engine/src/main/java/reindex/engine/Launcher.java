/*
 * Launcher.java: a real OpenSearch cluster for the tests, N nodes in this JVM on
 * loopback, started from the server and module jars on the classpath (no
 * distribution, no Docker).  test/engine/opensearch builds the classpath and runs it.
 *
 * Owns: the nodes' settings, a temporary home (config, data, logs; deleted at exit
 * unless --data names a folder to keep), the ports (HTTP free unless --port, transport
 * reserved free), the one status line on stdout once the cluster is green:
 *     opensearch listening on http://127.0.0.1:PORT
 * (preceded, for several nodes, by one "opensearch node NAME http://... transport
 * 127.0.0.1:PORT" line per node), and a clean stop on SIGTERM (every node closed,
 * exit status 0).
 *
 * Invariants:
 *  - nothing but status lines goes to stdout (log4j writes to stderr; its
 *    configuration reroutes System.out, so the original stream is kept first);
 *  - a node that fails to start, or a cluster not green in time, ends the process
 *    with status 1 and the reason on stderr, never a silent half-started cluster;
 *  - with --stdin-control, lines "stop NAME" / "start NAME" on stdin stop a node and
 *    start it again on the same data and ports (answered "stopped NAME" /
 *    "started NAME http://..." once green again), and end of input stops everything,
 *    so a test's engine cannot outlive the test process.
 */
package reindex.engine;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.opensearch.action.admin.cluster.health.ClusterHealthResponse;
import org.opensearch.cluster.service.ClusterService;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.common.unit.TimeValue;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

public final class Launcher {
	/* the modules a distribution loads from its modules/ folder, as plugin classes */
	private static final List<Class<? extends Plugin>> MODULES = List.of(
			org.opensearch.transport.Netty4Plugin.class,
			org.opensearch.index.reindex.ReindexPlugin.class,
			org.opensearch.analysis.common.CommonAnalysisPlugin.class,
			org.opensearch.index.mapper.MapperExtrasPlugin.class,
			org.opensearch.painless.PainlessPlugin.class,
			org.opensearch.join.ParentJoinPlugin.class,
			org.opensearch.percolator.PercolatorPlugin.class,
			org.opensearch.index.rankeval.RankEvalPlugin.class,
			org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin.class);

	private static final String LOG4J = String.join("\n",
			"status = error",
			"appender.console.type = Console",
			"appender.console.name = console",
			"appender.console.target = SYSTEM_ERR",
			"appender.console.layout.type = PatternLayout",
			"appender.console.layout.pattern = [%d{ISO8601}][%-5p][%c{1}] %m%n",
			"rootLogger.level = ${sys:reindex.engine.loglevel:-warn}",
			"rootLogger.appenderRef.console.ref = console",
			/* warns at every start that dangling indices are not imported: as wanted */
			"logger.dangling.name = org.opensearch.gateway.DanglingIndicesState",
			"logger.dangling.level = error",
			"");

	/* a node of ours; the OpenSearch Node's constructor with plugin classes is protected */
	private static final class EmbeddedNode extends Node {
		EmbeddedNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
			super(env, plugins, true);
		}

		@Override
		protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {
			/* the listener feeds log patterns we do not use */
		}
	}

	/* what one node is: its name, home, ports, and the running Node when started */
	private static final class Member {
		final String name;
		final Path data, logs;
		int httpPort;
		final int transportPort;
		Node node;

		Member(String name, Path dir, int httpPort, int transportPort) {
			this.name = name;
			this.data = dir.resolve("data");
			this.logs = dir.resolve("logs");
			this.httpPort = httpPort;
			this.transportPort = transportPort;
		}

		String url() {
			return "http://127.0.0.1:" + httpPort;
		}
	}

	private static PrintStream out, err;
	private static Path home, config;
	private static boolean keepHome;
	private static final String CLUSTER = "reindex-test";
	private static final List<Member> members = new ArrayList<>();
	private static final Map<String, String> extraSettings = new LinkedHashMap<>();
	private static int greenTimeoutSeconds = 120;
	/* the status the shutdown hook ends with: 0 for SIGTERM, else what exit() said */
	private static volatile int exitStatus = 0;

	private static void exit(int status) {
		exitStatus = status;
		System.exit(status);
	}

	private static void usage(String why) {
		err.println("opensearch: " + why);
		err.println("usage: opensearch [--port N] [--nodes N] [--data DIR] [-E key=value]... "
				+ "[--stdin-control] [--exit-when-ready]");
		exit(2);
	}

	public static void main(String[] args) throws Exception {
		out = System.out;	/* LogConfigurator reroutes System.out and System.err */
		err = System.err;
		int port = 0, nodes = 1;
		boolean stdinControl = false, exitWhenReady = false;
		String data = null;
		for (int i = 0; i < args.length; i++) {
			String a = args[i];
			boolean hasValue = i + 1 < args.length;
			try {
				switch (a) {
				case "--port":
					if (!hasValue) usage("--port needs a value");
					port = Integer.parseInt(args[++i]);
					break;
				case "--nodes":
					if (!hasValue) usage("--nodes needs a value");
					nodes = Integer.parseInt(args[++i]);
					break;
				case "--data":
					if (!hasValue) usage("--data needs a value");
					data = args[++i];
					break;
				case "-E":
					if (!hasValue || !args[i + 1].contains("=")) usage("-E needs key=value");
					String kv = args[++i];
					extraSettings.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
					break;
				case "--stdin-control":
					stdinControl = true;
					break;
				case "--exit-when-ready":
					exitWhenReady = true;
					break;
				default:
					usage("unknown argument " + a);
				}
			} catch (NumberFormatException e) {
				usage(a + " needs a number");
			}
		}
		if (port < 0 || port > 65535) usage("--port out of range");
		if (nodes < 1 || nodes > 9) usage("--nodes must be 1 to 9");

		keepHome = data != null;
		home = keepHome ? Files.createDirectories(Paths.get(data).toAbsolutePath())
				: Files.createTempDirectory("reindex-opensearch-");
		config = Files.createDirectories(home.resolve("config"));
		Files.writeString(config.resolve("log4j2.properties"), LOG4J, StandardCharsets.UTF_8);

		for (int i = 1; i <= nodes; i++) {
			String name = "node-" + i;
			int http = i == 1 ? port : 0;
			int transport = nodes == 1 ? 0 : freePort();
			members.add(new Member(name, home.resolve(name), http, transport));
		}

		Runtime.getRuntime().addShutdownHook(new Thread(Launcher::shutdown, "reindex-engine-shutdown"));
		checkFileStore(home);	/* (after the hook: a temporary home is removed) */

		LogConfigurator.registerErrorListener();
		LogConfigurator.setNodeName(CLUSTER);
		LogConfigurator.configure(environment(members.get(0)));

		try {
			startAll();
			waitGreen(nodes);
		} catch (Exception e) {
			err.println("opensearch: the cluster did not start: " + e);
			e.printStackTrace(err);
			exit(1);
		}
		if (nodes > 1)
			for (Member m : members)
				out.println("opensearch node " + m.name + " " + m.url() + " transport 127.0.0.1:" + m.transportPort);
		out.println("opensearch listening on " + members.get(0).url());
		out.flush();
		if (exitWhenReady)
			exit(0);
		if (stdinControl)
			control();
		else
			Thread.currentThread().join();	/* until SIGTERM */
	}

	/*
	 * OpenSearch locks and sizes its data folder through its file store, which
	 * Java finds by walking up to a mount point listed in /proc/self/mountinfo.
	 * In a chroot whose root is not a mount point there is none: the node would
	 * fail with "failed to obtain node locks" (cause: "Mount point not found").
	 * Say what is wrong instead.
	 */
	private static void checkFileStore(Path dir) {
		try {
			Files.getFileStore(dir);
		} catch (IOException e) {
			err.println("opensearch: no file system found for " + dir + " (" + e.getMessage() + "): "
					+ "OpenSearch needs the mount that holds its data in /proc/self/mountinfo; "
					+ "in a chroot, make its root a mount point (mount --bind ROOT ROOT) before entering it");
			exit(1);
		}
	}

	private static int freePort() throws IOException {
		try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
			return s.getLocalPort();
		}
	}

	private static Settings settings(Member m) {
		Settings.Builder b = Settings.builder()
				.put("cluster.name", CLUSTER)
				.put("node.name", m.name)
				.put("path.home", home.toString())
				.put("path.data", m.data.toString())
				.put("path.logs", m.logs.toString())
				.put("network.host", "127.0.0.1")
				.put("http.port", Integer.toString(m.httpPort))
				.put("transport.port", Integer.toString(m.transportPort))
				.put("cluster.routing.allocation.disk.threshold_enabled", false)
				/* a shared engine serves every test of a run: many small indexes */
				.put("cluster.max_shards_per_node", 10000);
		if (members.size() == 1) {
			b.put("discovery.type", "single-node");
		} else {
			b.putList("discovery.seed_hosts", members.stream()
					.map(o -> "127.0.0.1:" + o.transportPort).collect(Collectors.toList()));
			b.putList("cluster.initial_cluster_manager_nodes", members.stream()
					.map(o -> o.name).collect(Collectors.toList()));
		}
		extraSettings.forEach(b::put);
		return b.build();
	}

	private static Environment environment(Member m) {
		return InternalSettingsPreparer.prepareEnvironment(settings(m), Map.of(), config, () -> m.name);
	}

	private static void start(Member m) throws Exception {
		started(m, new EmbeddedNode(environment(m), MODULES));
	}

	private static void started(Member m, Node node) throws Exception {
		node.start();
		m.node = node;
		InetSocketAddress bound = node.injector().getInstance(HttpServerTransport.class)
				.boundAddress().publishAddress().address();
		m.httpPort = bound.getPort();	/* kept: a restarted node answers where it did */
	}

	/*
	 * Nodes are built one after the other (painless fills a static lookup table
	 * without locks) and started at once: a cluster manager is elected only once a
	 * quorum runs, and a start waits for one.
	 */
	private static void startAll() throws Exception {
		List<Node> built = new ArrayList<>();
		for (Member m : members)
			built.add(new EmbeddedNode(environment(m), MODULES));
		ExecutorService pool = Executors.newFixedThreadPool(members.size());
		try {
			List<Future<?>> started = new ArrayList<>();
			for (int i = 0; i < members.size(); i++) {
				Member m = members.get(i);
				Node node = built.get(i);
				started.add(pool.submit(() -> {
					started(m, node);
					return null;
				}));
			}
			for (Future<?> f : started)
				f.get();
		} finally {
			pool.shutdown();
		}
	}

	private static Member running() {
		for (Member m : members)
			if (m.node != null)
				return m;
		throw new IllegalStateException("no node is running");
	}

	private static void waitGreen(int nodes) {
		ClusterHealthResponse h = running().node.client().admin().cluster().prepareHealth()
				.setWaitForGreenStatus()
				.setWaitForNodes(Integer.toString(nodes))
				.setTimeout(TimeValue.timeValueSeconds(greenTimeoutSeconds))
				.get();
		if (h.isTimedOut())
			throw new IllegalStateException("cluster not green with " + nodes + " nodes after "
					+ greenTimeoutSeconds + " s: status " + h.getStatus() + ", " + h.getNumberOfNodes() + " nodes");
	}

	private static long runningCount() {
		return members.stream().filter(m -> m.node != null).count();
	}

	/* "stop NAME" / "start NAME" from stdin; end of input stops the cluster */
	private static void control() throws IOException {
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
		String line;
		while ((line = in.readLine()) != null) {
			String[] w = line.trim().split("\\s+");
			if (w.length != 2 || !(w[0].equals("stop") || w[0].equals("start"))) {
				out.println("error: expected \"stop NAME\" or \"start NAME\", got \"" + line.trim() + "\"");
				out.flush();
				continue;
			}
			Member m = members.stream().filter(o -> o.name.equals(w[1])).findFirst().orElse(null);
			try {
				if (m == null)
					throw new IllegalArgumentException("no node named " + w[1]);
				if (w[0].equals("stop")) {
					if (m.node == null)
						throw new IllegalStateException(m.name + " is not running");
					close(m);
					out.println("stopped " + m.name);
				} else {
					if (m.node != null)
						throw new IllegalStateException(m.name + " is running");
					start(m);
					waitNodes((int) runningCount());
					out.println("started " + m.name + " " + m.url());
				}
			} catch (Exception e) {
				out.println("error: " + w[0] + " " + w[1] + ": " + e.getMessage());
			}
			out.flush();
		}
		exit(0);
	}

	private static void waitNodes(int nodes) {
		ClusterHealthResponse h = running().node.client().admin().cluster().prepareHealth()
				.setWaitForNodes(Integer.toString(nodes))
				.setTimeout(TimeValue.timeValueSeconds(greenTimeoutSeconds))
				.get();
		if (h.isTimedOut())
			throw new IllegalStateException(nodes + " nodes not joined after " + greenTimeoutSeconds + " s");
	}

	private static void close(Member m) throws IOException, InterruptedException {
		Node node = m.node;
		m.node = null;
		node.close();
		if (!node.awaitClose(30, java.util.concurrent.TimeUnit.SECONDS))
			err.println("opensearch: " + m.name + " not closed after 30 s");
	}

	private static void shutdown() {
		for (Member m : members) {
			if (m.node == null)
				continue;
			try {
				close(m);
			} catch (Exception e) {
				err.println("opensearch: closing " + m.name + ": " + e);
			}
		}
		if (!keepHome && home != null) {
			try (Stream<Path> walk = Files.walk(home)) {
				walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
			} catch (IOException e) {
				err.println("opensearch: removing " + home + ": " + e);
			}
		}
		/* a SIGTERM is a clean stop: status 0, as the development server ends */
		Runtime.getRuntime().halt(exitStatus);
	}
}

// A real HDFS for tests: Hadoop 3's MiniDFSCluster (one NameNode, one DataNode, one JVM) on a
// free port. Run from source with the jars of pom.xml:
//   java -cp 'LIB/*' MiniDfs.java BASE_DIR
// Prints "hdfs://127.0.0.1:PORT" on stdout once the cluster serves, then runs until killed.
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public class MiniDfs {
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: MiniDfs BASE_DIR");
            System.exit(2);
        }
        Configuration conf = new HdfsConfiguration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, args[0]);
        conf.setInt("dfs.replication", 1);
        // The tests' client runs as the same OS user; permissions are not what is under test.
        conf.setBoolean("dfs.permissions.enabled", false);
        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).format(true).build();
        cluster.waitActive();
        System.out.println("hdfs://127.0.0.1:" + cluster.getNameNodePort());
        System.out.flush();
        Thread.currentThread().join();
    }
}

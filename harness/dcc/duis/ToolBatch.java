// Runs DCC Boxed's signing tool (tool.jar, installed in the DUIS tool cache, never in this
// repository) on many documents in one JVM: the tool's own Sign and Validate entry points,
// called once per line of standard input instead of one JVM each.
//
// Each input line: MODE <TAB> INPUT FILE <TAB> OUTPUT FILE [<TAB> EXTRA ARGUMENT]
// (MODE is Sign or Validate; for Sign the extra argument is --preserveCounter, for Validate
// the signer's certificate file). Standard output and error of the call go to OUTPUT FILE and
// OUTPUT FILE.log; one line per input is printed: the tool's result code.
//
// Copyright the smets1-dmct authors. Licensed under the Apache License, Version 2.0.

import java.io.BufferedReader;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public final class ToolBatch {
  public static void main(String[] args) throws Exception {
    PrintStream out = System.out;
    PrintStream err = System.err;
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] part = line.split("\t");
      Method tool = Class.forName("uk.co.smartdcc.boxed.xmldsig." + part[0])
          .getMethod("main_aux", String[].class);
      List<String> call = new ArrayList<>(Arrays.asList(part[1]));
      if (part.length > 3) {
        call.add(part[3]);
      }
      String result;
      try (PrintStream document = new PrintStream(new FileOutputStream(part[2]), true, "UTF-8");
           PrintStream log = new PrintStream(new FileOutputStream(part[2] + ".log"), true, "UTF-8")) {
        System.setOut(document);
        System.setErr(log);
        result = String.valueOf(tool.invoke(null, (Object) call.toArray(new String[0])));
      } catch (Exception e) {
        result = "EXCEPTION " + e;
      } finally {
        System.setOut(out);
        System.setErr(err);
      }
      out.println(result);
      out.flush();
    }
  }
}

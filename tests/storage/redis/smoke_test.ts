import { assertEquals } from "@std/assert";
